#!/usr/bin/env python3
"""Generate the torchvision golden fixtures for crates/augment/tests/golden.rs.

A development tool, not part of the build: CI only reads the committed output,
crates/augment/tests/fixtures/torchvision_golden.json.

Usage (from the repository root, with torch + torchvision installed, e.g. in ~/torchref):
    ~/torchref/bin/python tools/torchvision_golden.py

Every case applies one torchvision functional op with fixed parameters to a small seeded float32
image in [0, 1] (CHW) and records the input, the parameters and the output. Values are float32
written as their shortest round-tripping decimals, so the Rust side reads back the same float32s.
"""
import json
import pathlib

import numpy as np
import torch
import torchvision
import torchvision.transforms.v2.functional as F

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/augment/tests/fixtures/torchvision_golden.json"


def image(seed, h, w):
    # Smooth gradients plus speckle, like a small sky patch; distinct per channel.
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    base = np.stack([xx, yy, (xx + yy) / 2])
    img = 0.6 * base + 0.4 * rng.random((3, h, w))
    return torch.from_numpy(np.clip(img, 0, 1).astype(np.float32))


def flat(t):
    # Shortest decimal that reads back as the same float32 (about half the size of repr(double)).
    return [float(str(np.float32(v))) for v in t.contiguous().view(-1).tolist()]


def main():
    inputs = {"a": image(0, 12, 16), "b": image(1, 13, 9)}
    cases = []

    def case(name, inp, op, params, out):
        cases.append({"name": name, "input": inp, "op": op, "params": params,
                      "shape": list(out.shape), "data": flat(out)})

    for inp, img in inputs.items():
        h, w = img.shape[-2:]
        for (oh, ow) in [(5, 7), (7, 5), (20, 25), (6, 24), (h, 3)]:
            out = F.resize(img, [oh, ow], interpolation=F.InterpolationMode.BILINEAR, antialias=True)
            case(f"resize_{inp}_{oh}x{ow}", inp, "resize", {"height": oh, "width": ow}, out)
        for k, s in [(3, 0.8), (5, 1.5), (7, 2.0), (5, 0.1)]:
            case(f"blur_{inp}_k{k}_s{s}", inp, "gaussian_blur", {"kernel_size": k, "sigma": s},
                 F.gaussian_blur(img, [k, k], [s, s]))
        for f in [0.0, 0.6, 1.7]:
            case(f"brightness_{inp}_{f}", inp, "adjust_brightness", {"factor": f}, F.adjust_brightness(img, f))
        for f in [0.0, 0.5, 1.8]:
            case(f"contrast_{inp}_{f}", inp, "adjust_contrast", {"factor": f}, F.adjust_contrast(img, f))
        for f in [0.0, 0.4, 2.0]:
            case(f"saturation_{inp}_{f}", inp, "adjust_saturation", {"factor": f}, F.adjust_saturation(img, f))
        for f in [-0.4, 0.1, 0.33, 0.5]:
            case(f"hue_{inp}_{f}", inp, "adjust_hue", {"factor": f}, F.adjust_hue(img, f))
        case(f"grayscale_{inp}", inp, "rgb_to_grayscale", {}, F.rgb_to_grayscale(img, num_output_channels=3))
        case(f"invert_{inp}", inp, "invert", {}, F.invert(img))
        case(f"hflip_{inp}", inp, "hflip", {}, F.horizontal_flip(img))
        case(f"vflip_{inp}", inp, "vflip", {}, F.vertical_flip(img))
        for k in [1, 2, 3]:
            # torch.rot90 is counter-clockwise, = F.rotate(img, 90k, expand=True).
            case(f"rot90_{inp}_{k}", inp, "rot90", {"k": k}, torch.rot90(img, k, dims=(-2, -1)))
        start = [[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]
        for end in ([[2, 1], [w - 3, 0], [w - 1, h - 2], [1, h - 3]],
                    [[4, 3], [w - 2, 2], [w - 5, h - 1], [0, h - 4]]):
            case(f"perspective_{inp}_{end[0][0]}", inp, "perspective", {"start": start, "end": end, "fill": 0.0},
                 F.perspective(img, start, end, interpolation=F.InterpolationMode.BILINEAR, fill=0.0))
        v = torch.tensor([0.1, 0.5, 0.9]).view(3, 1, 1)
        case(f"erase_{inp}", inp, "erase", {"top": 2, "left": 3, "height": 4, "width": 5, "value": [0.1, 0.5, 0.9]},
             F.erase(img, 2, 3, 4, 5, v))
        mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
        case(f"normalize_{inp}", inp, "normalize", {"mean": mean, "std": std}, F.normalize(img, mean, std))
        for (ch, cw) in [(7, 9), (8, 8), (h + 3, w + 2)]:
            case(f"center_crop_{inp}_{ch}x{cw}", inp, "center_crop", {"height": ch, "width": cw},
                 F.center_crop(img, [ch, cw]))
        case(f"crop_{inp}_outside", inp, "crop", {"top": -2, "left": -3, "height": 10, "width": 12},
             F.crop(img, -2, -3, 10, 12))
        case(f"resized_crop_{inp}", inp, "resized_crop",
             {"top": 1, "left": 2, "height": 8, "width": 6, "size": 6},
             F.resized_crop(img, 1, 2, 8, 6, [6, 6], interpolation=F.InterpolationMode.BILINEAR, antialias=True))

    doc = {
        "generator": "tools/torchvision_golden.py",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "inputs": {k: {"shape": list(v.shape), "data": flat(v)} for k, v in inputs.items()},
        "cases": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
