"""Registered models: the family interface of all (encode, decode), the denoisers' output contract and
encode/classify consistency, sizes, registry errors."""

import pytest
import torch

from training import registry
from training.models import build_model, fold_batchnorm, for_serving, model_name

MODELS = registry.names()


def batch(seed: int = 0) -> torch.Tensor:
    return torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


DENOISERS = sorted(n for n in MODELS if n.startswith("denoiser"))  # forward gives .recon and .logits


def built(name: str):
    torch.manual_seed(0)
    return build_model(name).eval()


@pytest.fixture(scope="module", params=DENOISERS)
def model(request):
    return built(request.param)


@pytest.fixture(scope="module", params=sorted(MODELS))
def any_model(request):
    return built(request.param)


def test_forward_outputs(model):
    with torch.no_grad():
        out = model(batch())
    assert out.recon.shape == (4, 1, 28, 28)
    assert out.logits.shape == (4, 10)
    assert torch.isfinite(out.recon).all() and torch.isfinite(out.logits).all()
    assert out.recon.min() >= 0 and out.recon.max() <= 1


def test_encode_is_a_finite_2d_latent(any_model):
    with torch.no_grad():
        z = any_model.encode(batch())
    assert z.dim() == 2 and z.shape[0] == 4 and z.shape[1] > 0
    assert torch.isfinite(z).all()
    # the latent depends on the image (a constant encoder would be useless for the explorer)
    assert not torch.allclose(z[0], z[1])


@pytest.mark.parametrize(
    "name", sorted(n for n in MODELS if issubclass(registry.get(n).module, registry.Decoder))
)
def test_decode_of_encode_gives_images(name):
    m = built(name)
    with torch.no_grad():
        x = m.decode(m.encode(batch()))
    assert x.shape == (4, 1, 28, 28)
    assert torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1


def test_denoiser_latent_is_the_pooled_bottleneck_the_head_reads():
    torch.manual_seed(0)
    m = build_model("denoiser").eval()
    with torch.no_grad():
        z = m.encode(batch())
        pool_input = m._pooled(m._features(batch())[2])
    assert z.shape == (4, 2 * m.config.widths[-1])
    assert torch.equal(z, pool_input)


def test_classify_matches_forward_logits_in_eval_mode(model):
    x = batch(1)
    with torch.no_grad():
        assert torch.allclose(model.classify(x), model(x).logits, atol=1e-5)


def test_channels_last_gives_the_same_outputs(model):
    x = batch(2)
    with torch.no_grad():
        ref = model(x)
        # a separate copy, so that the module-scoped fixture keeps its contiguous format
        model_cl = build_model(model_name(model)).eval()
        model_cl.load_state_dict(model.state_dict())
        model_cl = model_cl.to(memory_format=torch.channels_last)
        out = model_cl(x.contiguous(memory_format=torch.channels_last))
        logits = model_cl.classify(x.contiguous(memory_format=torch.channels_last))
    assert out.recon.shape == (4, 1, 28, 28) and out.logits.shape == (4, 10)
    assert torch.allclose(out.recon, ref.recon, atol=1e-5)
    assert torch.allclose(out.logits, ref.logits, atol=1e-4)
    assert torch.allclose(logits, out.logits, atol=1e-4)


def n_batchnorm(m) -> int:
    return sum(isinstance(b, torch.nn.BatchNorm2d) for b in m.modules())


@pytest.mark.parametrize("prepare", [fold_batchnorm, for_serving])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_folding_batchnorm_keeps_the_function(name, prepare):
    m = built(name)
    g = torch.Generator().manual_seed(3)
    for bn in (b for b in m.modules() if isinstance(b, torch.nn.BatchNorm2d)):
        # statistics and scales far from a fresh layer's identity, as after training
        for t in (bn.running_mean, bn.weight, bn.bias):
            t.data = torch.randn(t.shape, generator=g)
        bn.running_var.data = torch.rand(bn.running_var.shape, generator=g) + 0.1
    n_before = n_batchnorm(m)
    folded = prepare(m)
    x = batch(4)
    with torch.no_grad():
        z = m.encode(x)
        pairs = [(z, folded.encode(x))]
        if hasattr(m, "decode"):
            pairs.append((m.decode(z), folded.decode(z)))
        if name in DENOISERS:
            pairs += list(zip(m(x), folded(x)))
    for a, b in pairs:
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)
    assert n_batchnorm(m) == n_before  # the original is untouched
    if name in DENOISERS:
        assert n_batchnorm(folded) == 0  # every BatchNorm there follows a convolution


def convolutions(m) -> list:
    return [c for c in m.modules() if isinstance(c, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]


@pytest.mark.parametrize("name", [n for n in sorted(MODELS) if convolutions(built(n))])
def test_served_copy_runs_its_convolutions_channels_last(name):
    m = built(name)
    served = for_serving(m)
    convs = convolutions(served)
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    # the original keeps the default layout (training code and checkpoints see no change)
    assert all(c.weight.is_contiguous() for c in convolutions(m))


def test_denoiser_ref_matches_the_write_up_parameter_table():
    m = build_model("denoiser_ref")
    assert sum(p.numel() for p in m.parameters()) == 2_062_859
    params = dict(m.named_parameters())
    assert params["classification_head.1.weight"].shape == (256, 6272)


def test_denoiser_is_lean():
    m = build_model("denoiser")
    assert sum(p.numel() for p in m.parameters()) <= 500_000


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(KeyError) as e:
        build_model("nope")
    for name in MODELS:
        assert name in str(e.value)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_unknown_config_field_raises_type_error(name):
    with pytest.raises(TypeError):
        build_model(name, {"no_such_field": 1})


def test_neuron_ae_has_the_reference_layers():
    model = build_model("neuron_ae")
    # 104 + 808 + 32,010 (encoder) + 4,400 + 1,604,000 + 2,510 + 251 (decoder)
    assert sum(p.numel() for p in model.parameters()) == 1_644_083
    x = torch.rand(3, 1, 28, 28)
    assert model.encode(x).shape == (3, 10)
    out = model(x)
    assert out.recon.shape == (3, 1, 28, 28) and 0 <= out.recon.min() and out.recon.max() <= 1
    assert torch.equal(out.code, model.encode(x))


def test_residual_blocks_start_as_the_identity(tmp_path):
    """A net deepened by --init (res_blocks, mid_res_blocks, enc_res_blocks added) computes what its
    parent did until it trains."""
    from training.checkpoint import save_checkpoint
    from training.state import warm_start

    parent = built("denoiser")
    parent.train()
    parent(batch(1))  # moves the BatchNorm running statistics away from their defaults
    parent.eval()
    path = save_checkpoint(
        parent,
        tmp_path / "parent.safetensors",
        {},
        command="test",
        device="cpu",
        wall_time_s=0.0,
        dataset="none",
    )
    child = build_model("denoiser", {"res_blocks": 2, "mid_res_blocks": 1, "enc_res_blocks": 1})
    warm_start(child, str(path))
    child.eval()
    x = batch(2)
    for a, b in zip(parent(x), child(x)):
        assert torch.allclose(a, b, atol=1e-6)
    grown = sum(p.numel() for p in child.parameters()) - sum(p.numel() for p in parent.parameters())
    # two blocks at 7x7, one at 14x14 and one at 28x28, each of two 3x3 convs with their BatchNorms
    assert grown == 2 * 2 * (96 * 96 * 9 + 2 * 96) + 2 * (48 * 48 * 9 + 2 * 48) + 2 * (16 * 16 * 9 + 2 * 16)
