"""Perceptual term of the image-codec loss: weighted MSE between feature activations.

The paper (Appendix D.1.3) compares activations of an OMR model's encoder instead of a VGG
perceptual loss. Our OMR model is not trained yet, so :func:`random_conv_features` is the
documented stand-in: a frozen, randomly initialised conv stack (fixed seed, no download).
Random conv features respond to local edges and blobs at several scales, which already pushes
the codec to keep thin staff lines and small noteheads that a pixel loss averages away. Once an
OMR model exists, wrap its encoder with :class:`FeatureTap` and pass that instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class FeatureTap(nn.Module):
    """Collect the outputs of named submodules of a frozen network.

    ``network(pixel_values)`` is run once; forward hooks record the outputs of ``layer_names``.
    ``input_adapter`` maps the codec's `(B, 1, H, W)` pixels in [-1, 1] to what the network
    expects (e.g. repeat to 3 channels, or rescale to [0, 1]).
    """

    def __init__(self, network: nn.Module, layer_names: Sequence[str], input_adapter=None):
        super().__init__()
        self.network = network.eval().requires_grad_(False)
        self.layer_names = list(layer_names)
        modules = dict(network.named_modules())
        missing = [name for name in self.layer_names if name not in modules]
        if missing:
            raise ValueError(f"the feature network has no submodules named {missing}")
        self._outputs: dict[str, torch.Tensor] = {}
        for name in self.layer_names:
            modules[name].register_forward_hook(self._recorder(name))
        self.input_adapter = input_adapter

    def _recorder(self, name: str):
        def hook(module, inputs, output):
            self._outputs[name] = output[0] if isinstance(output, tuple) else output

        return hook

    def train(self, mode: bool = True) -> FeatureTap:  # the tapped network stays frozen in eval mode
        super().train(mode)
        self.network.eval()
        return self

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        """`(B, 1, H, W)` -> one activation tensor per tapped layer, in ``layer_names`` order."""
        self._outputs = {}
        inputs = self.input_adapter(pixel_values) if self.input_adapter is not None else pixel_values
        self.network(inputs)
        return [self._outputs[name] for name in self.layer_names]


def random_conv_features(channels: Sequence[int] = (16, 32, 64), seed: int = 1234) -> FeatureTap:
    """Stand-in OMR encoder: frozen random conv stack, one tap after each stride-2 stage.

    Stage ``i`` sees a receptive field of about ``2**(i+2)`` pixels: staff-line spacing (8 px at
    the normalised staff height), notehead size and beam thickness are all covered.
    """
    generator = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    names = []
    in_channels = 1
    for index, width in enumerate(channels):
        conv = nn.Conv2d(in_channels, width, 3, stride=2, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * (2.0 / (9 * in_channels)) ** 0.5)
            conv.bias.zero_()
        layers += [conv, nn.ReLU()]
        names.append(str(2 * index + 1))  # the ReLU after each conv
        in_channels = width
    return FeatureTap(nn.Sequential(*layers), names)


class PerceptualLoss(nn.Module):
    """``sum_i w_i * MSE(f_i(reconstruction), f_i(target))`` over the tapped layers of ``features``."""

    def __init__(self, features: nn.Module, layer_weights: Sequence[float] | None = None):
        super().__init__()
        self.features = features
        self.layer_weights = None if layer_weights is None else [float(w) for w in layer_weights]

    def forward(self, reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target_features = self.features(target)
        predicted = self.features(reconstruction)
        weights = self.layer_weights or [1.0] * len(predicted)
        if len(weights) != len(predicted):
            raise ValueError(f"{len(weights)} layer weights for {len(predicted)} tapped layers")
        return sum(w * F.mse_loss(p, t) for w, p, t in zip(weights, predicted, target_features))


__all__ = ["FeatureTap", "PerceptualLoss", "random_conv_features"]
