import torch


def fill(width, height, value):
    return torch.full((1, height, width, 3), float(value))
