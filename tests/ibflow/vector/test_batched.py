"""Training the points of a sweep together: the batched module is the B codecs side by side. Stacking and
unstacking lose nothing, its data-dependent initialisation is each codec's own, its loss gradient is
each codec's own loss gradient (float64, to rounding), and only codecs it can hold exactly are taken."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ibflow import FlowCodec, TrainConfig, train
from ibflow.vector.batched import BatchedFlowCodec, can_batch


def _codecs(count: int, seed: int, hidden: int = 8) -> list[FlowCodec]:
    """``count`` 1-D FlowCodecs with different random weights (so a mixed-up column would show)."""
    out = []
    for i in range(count):
        torch.manual_seed(seed + i)
        c = FlowCodec(1, hidden=hidden).double()
        c.data_init(torch.randn(512, 1, dtype=torch.float64), generator=torch.Generator().manual_seed(i))
        with torch.no_grad():
            for p in c.parameters():
                p.add_(0.1 * torch.randn_like(p))
        out.append(c)
    return out


@given(count=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_unstacking_returns_the_codecs_it_stacked(count: int, seed: int) -> None:
    codecs = _codecs(count, seed)
    back = BatchedFlowCodec(codecs, [0.5] * count).unstack()
    x = torch.randn(64, 1, dtype=torch.float64)
    for a, b in zip(codecs, back):
        for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
            assert na == nb and torch.equal(pa, pb), na
        with torch.no_grad():
            oa, ob = a(x, generator=torch.Generator().manual_seed(1)), b(x, generator=torch.Generator().manual_seed(1))
        assert torch.equal(oa["x_hat"], ob["x_hat"]) and torch.equal(oa["rate"], ob["rate"])


@given(count=st.integers(1, 5), seed=st.integers(0, 10_000), scale=st.floats(0.05, 1.0))
def test_the_batched_gradient_is_each_codecs_own(count: int, seed: int, scale: float) -> None:
    codecs = _codecs(count, seed)
    betas = [0.1 * (i + 1) for i in range(count)]
    batched = BatchedFlowCodec(codecs, betas).double()
    x = torch.randn(256, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    batched.loss(x, scale, torch.Generator().manual_seed(3)).total.backward()
    grads = {n: p.grad for n, p in batched.named_parameters()}
    separate = []
    for c, beta in zip(copy.deepcopy(codecs), betas):
        c.zero_grad()
        # the same noise: one (n, 1) draw from the same generator state
        c.loss(x, scale * beta, torch.Generator().manual_seed(3)).total.backward()
        separate.append(c)
    for b, c in enumerate(separate):
        for big, small in zip([*batched.encoder, *batched.prior], [*c.encoder, *c.prior]):
            for name, value in small.named_parameters(recurse=False):
                got = getattr(big, name).grad[b : b + 1]
                assert torch.allclose(got, value.grad, rtol=1e-9, atol=1e-12), name
        dec = batched.decoder
        assert torch.allclose(dec.affine_weight.grad[b], c.decoder.affine.weight.grad.reshape(()), rtol=1e-9, atol=1e-12)
        linears = [m for m in c.decoder.mlp if isinstance(m, torch.nn.Linear)]
        for i, m in enumerate(linears):
            assert torch.allclose(dec.weights[i].grad[b], m.weight.grad, rtol=1e-9, atol=1e-12)
            assert torch.allclose(dec.biases[i].grad[b], m.bias.grad, rtol=1e-9, atol=1e-12)
    assert grads  # every parameter received a gradient
    assert all(g is not None for g in grads.values())


def test_data_init_is_each_codecs_own_from_the_same_generator_state() -> None:
    template = []
    for _ in range(3):
        torch.manual_seed(0)
        template.append(FlowCodec(1, hidden=8))
    x = torch.randn(512, 1)
    batched = BatchedFlowCodec(template, [0.1, 0.5, 1.0])
    gen = torch.Generator().manual_seed(5)
    batched.data_init(x, generator=gen)
    alone = copy.deepcopy(template[0])
    gen_alone = torch.Generator().manual_seed(5)
    alone.data_init(x, generator=gen_alone)
    for c in batched.unstack():
        for pa, pb in zip(c.parameters(), alone.parameters()):
            assert torch.equal(pa, pb)
    assert torch.equal(gen.get_state(), gen_alone.get_state())  # left where one run leaves it


def test_a_short_batched_run_follows_the_separate_runs() -> None:
    betas = [0.1, 0.5]
    cfg = TrainConfig(steps=60, batch_size=256)
    codecs = []
    for _ in betas:
        torch.manual_seed(0)
        codecs.append(FlowCodec(1, hidden=8))
    separate = [copy.deepcopy(c) for c in codecs]
    sample = lambda n, seed: torch.randn(n, 1, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    for c, beta in zip(separate, betas):
        train(c, sample, beta, cfg, progress=False)
    batched = BatchedFlowCodec(codecs, betas)
    train(batched, sample, 1.0, cfg, progress=False)
    x = sample(4096, 99)
    for a, b in zip(separate, batched.unstack()):
        with torch.no_grad():
            oa, ob = a(x, generator=torch.Generator().manual_seed(1)), b(x, generator=torch.Generator().manual_seed(1))
        # the same run but for float32 rounding of batched arithmetic, grown over 60 Adam steps
        assert torch.allclose(oa["x_hat"], ob["x_hat"], atol=1e-3), (oa["x_hat"] - ob["x_hat"]).abs().max()
        assert abs(float(oa["rate"].mean() - ob["rate"].mean())) < 1e-3


@pytest.mark.parametrize(
    "make",
    [lambda: FlowCodec(2), lambda: FlowCodec(1, learn_sigma=True), lambda: FlowCodec(1, decoder="inverse")],
)
def test_codecs_it_cannot_hold_exactly_are_refused(make) -> None:
    codecs = [make(), make()]
    assert not can_batch(codecs)
    with pytest.raises(ValueError, match="BatchedFlowCodec takes 1-D FlowCodecs"):
        BatchedFlowCodec(codecs, [0.1, 0.2])
    assert not can_batch([FlowCodec(1, hidden=8), FlowCodec(1, hidden=16)])  # two configurations
    assert not can_batch([])
    with pytest.raises(ValueError, match="one beta per codec"):
        BatchedFlowCodec([FlowCodec(1)], [0.1, 0.2])
