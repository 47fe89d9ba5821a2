//! A small RFC 4180 CSV reader and writer: quoted fields, doubled quotes, commas and newlines
//! inside quotes. Enough for the project's own tables; not a general CSV library (no other
//! delimiters, no type inference).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::DatasetError;

/// A parsed table: the header and the records, each record with the line it started on.
#[derive(Debug, Clone)]
pub struct Table {
    path: PathBuf,
    columns: HashMap<String, usize>,
    /// Column names in file order.
    pub header: Vec<String>,
    /// `(line, fields)` of each record after the header.
    pub records: Vec<(usize, Vec<String>)>,
}

/// One record of a [`Table`] with access by column name.
#[derive(Debug, Clone, Copy)]
pub struct Record<'t> {
    table: &'t Table,
    line: usize,
    fields: &'t [String],
}

impl Table {
    /// Reads and parses `path`.
    ///
    /// # Errors
    /// [`DatasetError::Io`] if it cannot be read, [`DatasetError::Csv`] if a quote is not closed,
    /// the file is empty, or a record has a different number of fields than the header.
    pub fn read(path: &Path) -> Result<Self, DatasetError> {
        let text = std::fs::read_to_string(path).map_err(|e| DatasetError::io(path, e))?;
        Self::parse(path, &text)
    }

    /// Parses CSV `text`; `path` is only used in error messages.
    ///
    /// # Errors
    /// As [`Table::read`], without the I/O part.
    pub fn parse(path: &Path, text: &str) -> Result<Self, DatasetError> {
        let err = |line: usize, message: String| DatasetError::Csv {
            path: path.to_path_buf(),
            line,
            message,
        };
        let mut rows: Vec<(usize, Vec<String>)> = Vec::new();
        let mut field = String::new();
        let mut fields: Vec<String> = Vec::new();
        let mut line = 1;
        let mut record_line = 1;
        let mut in_quotes = false;
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if in_quotes {
                match c {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => in_quotes = false,
                    '\n' => {
                        line += 1;
                        field.push(c);
                    }
                    _ => field.push(c),
                }
                continue;
            }
            match c {
                '"' if field.is_empty() => in_quotes = true,
                ',' => fields.push(std::mem::take(&mut field)),
                '\r' if chars.peek() == Some(&'\n') => {}
                '\n' => {
                    fields.push(std::mem::take(&mut field));
                    rows.push((record_line, std::mem::take(&mut fields)));
                    line += 1;
                    record_line = line;
                }
                _ => field.push(c),
            }
        }
        if in_quotes {
            return Err(err(record_line, "a quoted field is not closed".into()));
        }
        if !field.is_empty() || !fields.is_empty() {
            fields.push(field);
            rows.push((record_line, fields));
        }
        // Blank lines carry no record.
        rows.retain(|(_, f)| !(f.len() == 1 && f[0].is_empty()));
        let mut rows = rows.into_iter();
        let (_, header) = rows.next().ok_or_else(|| err(1, "the file has no header".into()))?;
        let records: Vec<(usize, Vec<String>)> = rows.collect();
        for (l, f) in &records {
            if f.len() != header.len() {
                return Err(err(
                    *l,
                    format!("{} fields, the header has {}", f.len(), header.len()),
                ));
            }
        }
        let columns = header.iter().enumerate().map(|(i, h)| (h.clone(), i)).collect();
        Ok(Self { path: path.to_path_buf(), columns, header, records })
    }

    /// The records with access by column name.
    pub fn rows(&self) -> impl Iterator<Item = Record<'_>> {
        self.records.iter().map(move |(line, fields)| Record { table: self, line: *line, fields })
    }

    /// Fails unless every column in `names` exists.
    ///
    /// # Errors
    /// [`DatasetError::Csv`] naming the first missing column.
    pub fn require(&self, names: &[&str]) -> Result<(), DatasetError> {
        match names.iter().find(|n| !self.columns.contains_key(**n)) {
            None => Ok(()),
            Some(n) => Err(DatasetError::Csv {
                path: self.path.clone(),
                line: 1,
                message: format!("missing column `{n}`"),
            }),
        }
    }
}

impl Record<'_> {
    /// The field in column `name` (empty if the column does not exist; call
    /// [`Table::require`] first to turn that into an error).
    pub fn get(&self, name: &str) -> &str {
        self.table.columns.get(name).and_then(|&i| self.fields.get(i)).map_or("", String::as_str)
    }

    /// The record's line in the file.
    pub fn line(&self) -> usize {
        self.line
    }

    /// An error about this record.
    pub fn error(&self, message: impl Into<String>) -> DatasetError {
        DatasetError::Csv {
            path: self.table.path.clone(),
            line: self.line,
            message: message.into(),
        }
    }

    /// Column `name` parsed as a number.
    ///
    /// # Errors
    /// [`DatasetError::Csv`] if the field is not a number.
    pub fn number(&self, name: &str) -> Result<f64, DatasetError> {
        let s = self.get(name);
        s.trim().parse().map_err(|_| self.error(format!("column `{name}`: `{s}` is not a number")))
    }
}

/// One field as CSV: quoted (with doubled inner quotes) if it holds a comma, quote or newline.
pub fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// One CSV line (with its `\n`) from `fields`.
pub fn line<S: AsRef<str>>(fields: &[S]) -> String {
    let mut out = fields.iter().map(|f| quote(f.as_ref())).collect::<Vec<_>>().join(",");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_round_trip() {
        let fields = ["a,b", "say \"hi\"", "two\nlines", "plain", ""];
        let text = format!("w,x,y,z,e\n{}", line(&fields));
        let t = Table::parse(Path::new("t.csv"), &text).expect("valid csv");
        assert_eq!(t.records.len(), 1);
        assert_eq!(t.records[0].1, fields.map(String::from).to_vec());
    }

    #[test]
    fn ragged_rows_and_open_quotes_are_errors_with_lines() {
        let e = Table::parse(Path::new("t.csv"), "a,b\n1,2\n3\n").expect_err("ragged");
        assert!(matches!(e, DatasetError::Csv { line: 3, .. }), "{e}");
        let e = Table::parse(Path::new("t.csv"), "a,b\n1,\"2\n").expect_err("open quote");
        assert!(matches!(e, DatasetError::Csv { line: 2, .. }), "{e}");
    }

    #[test]
    fn crlf_and_missing_final_newline_are_accepted() {
        let t = Table::parse(Path::new("t.csv"), "a,b\r\n1,2\r\n3,4").expect("valid csv");
        assert_eq!(t.rows().map(|r| r.get("b").to_string()).collect::<Vec<_>>(), ["2", "4"]);
        assert!(t.require(&["a", "c"]).is_err());
    }
}
