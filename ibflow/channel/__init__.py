"""Channels and joint source-channel coding: AWGN, Rayleigh and erasure channels, analog JSCC codecs, separation.

Not imported by ``import ibflow`` (scipy and the JSCC code stay out of it); ``ibflow.channel`` loads
on first use.
"""

from ibflow.channel.channels import (
    AWGNChannel,
    AWGNOptions,
    Channel,
    ChannelOutput,
    ErasureChannel,
    ErasureOptions,
    PowerNormalization,
    RayleighBlockFadingChannel,
    RayleighOptions,
    awgn_capacity,
    db_to_linear,
    linear_to_db,
)
from ibflow.channel.jscc import (
    JSCCCodec,
    JSCCEvaluation,
    JSCCOptions,
    adapt_decoder,
    block_lengths,
    block_sampler,
    evaluate_jscc,
    linear_distortion,
    opta_distortion,
    train_jscc,
)
from ibflow.channel.separation import (
    SeparationCodec,
    fit_bin_width,
    separation_distortion,
    train_separation_codec,
)
from ibflow.registry import CHANNELS, get_channel

__all__ = [
    "Channel",
    "ChannelOutput",
    "PowerNormalization",
    "AWGNChannel",
    "RayleighBlockFadingChannel",
    "ErasureChannel",
    "AWGNOptions",
    "RayleighOptions",
    "ErasureOptions",
    "CHANNELS",
    "get_channel",
    "awgn_capacity",
    "db_to_linear",
    "linear_to_db",
    "JSCCCodec",
    "JSCCOptions",
    "JSCCEvaluation",
    "block_lengths",
    "opta_distortion",
    "linear_distortion",
    "block_sampler",
    "train_jscc",
    "adapt_decoder",
    "evaluate_jscc",
    "separation_distortion",
    "SeparationCodec",
    "fit_bin_width",
    "train_separation_codec",
]
