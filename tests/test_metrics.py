"""Metrics on cases with a known answer."""

import math

import pytest
import torch

from edgevfi.metrics import motion_bucket, motion_magnitude, psnr


def test_psnr_of_a_known_error():
    gt = torch.zeros(3, 4, 4)
    assert psnr(gt + 0.1, gt) == pytest.approx(20.0)
    assert math.isinf(psnr(gt, gt))


def test_motion_magnitude_in_frame_pixels_and_its_bucket():
    """(3, 4) canvas px on a canvas at half the frame size is a 10-px displacement: the large bucket."""
    m0 = torch.zeros(1, 4, 8, 8)
    m0[:, 0], m0[:, 1] = 3.0, 4.0
    assert motion_magnitude(m0, (32, 32), (64, 64)) == pytest.approx(10.0)
    assert motion_magnitude(m0, (32, 32), (32, 32)) == pytest.approx(5.0)
    assert [motion_bucket(x) for x in (0.0, 2.99, 3.0, 9.99, 10.0, 1e6)] == [
        "small",
        "small",
        "medium",
        "medium",
        "large",
        "large",
    ]
