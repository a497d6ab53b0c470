import math

import pytest
import torch
from torch import nn

from grafx.data import GRAFX
from grafx.errors import ConfigError
from grafx.fit import fit_parameters
from grafx.fit.penalty import GainStaging, Penalty, PenaltyContext
from grafx.render import GraphRenderer


class Gain(nn.Module):
    """y = exp(log_gain) * x, one gain per node."""

    def forward(self, x, log_gain):
        return x * torch.exp(log_gain)[..., None]

    def parameter_size(self):
        return {"log_gain": (1,)}


def chain_graph():
    """in -> eq -> fader -> out for one track: both 'eq' and 'fader' can set the level."""
    G = GRAFX(config=["eq", "fader"])
    out = G.add("out")
    _, end = G.add_serial_chain(["in", "eq", "fader"])
    G.connect(end, out)
    return G


def noise(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_gain_staging_sums_the_log_energy_change_of_the_regularised_nodes():
    # Two tracks in -> eq -> fader: energy scales by exp(2 g), so each node adds 2 |g_eq|.
    G = GRAFX(config=["eq", "fader"])
    out = G.add("out")
    for _ in range(2):
        _, end = G.add_serial_chain(["in", "eq", "fader"])
        G.connect(end, out)
    penalty = GainStaging(types=("eq",))
    processors = penalty.prepare({"eq": Gain(), "fader": Gain()})
    assert penalty.prepare(processors)["eq"] is processors["eq"]  # wrapped once
    log_gain = torch.tensor([[0.3], [-0.7]])
    params = {"eq": {"log_gain": log_gain}, "fader": {"log_gain": torch.tensor([[1.0], [2.0]])}}
    _, intermediates = GraphRenderer(G, processors)(noise(2, 2, 500), params)
    value = penalty.value(PenaltyContext(0, 0.0, params, intermediates))
    torch.testing.assert_close(value, torch.tensor(2 * (0.3 + 0.7)), atol=1e-5, rtol=0)


def fit(penalties, steps=150):
    G = chain_graph()
    processors = {"eq": Gain(), "fader": Gain()}
    x = noise(1, 2, 2048)
    target = 0.5 * x[0]
    start = {"eq": {"log_gain": torch.zeros(1, 1)}, "fader": {"log_gain": torch.zeros(1, 1)}}
    mse = lambda a, b: ((a - b) ** 2).mean() / (b**2).mean()  # noqa: E731
    return fit_parameters(
        G,
        processors,
        start,
        x,
        target,
        mse,
        steps=steps,
        lr=0.05,
        crop_len=None,
        warmup_len=0,
        progress=False,
        penalties=penalties,
        final_lr=1.0,
        optimizer="adam",
    )


def test_gain_staging_puts_the_level_on_the_unregularised_processor():
    free = fit({})
    # Without the regulariser the two gains are symmetric: each takes half of ln 0.5.
    torch.testing.assert_close(
        free.parameters["eq"]["log_gain"], free.parameters["fader"]["log_gain"]
    )
    staged = fit({"gain_staging": GainStaging(0.1, types=("eq",))})
    eq, fader = (
        staged.parameters["eq"]["log_gain"].item(),
        staged.parameters["fader"]["log_gain"].item(),
    )
    assert abs(eq) < 0.05 and fader == pytest.approx(math.log(0.5), abs=0.05)
    # The history records the weighted penalty: 0.1 * 2 |eq log gain| at every step.
    assert len(staged.penalty_history["gain_staging"]) == staged.steps
    assert staged.penalty_history["gain_staging"][0] == 0.0


def test_a_custom_penalty_sees_the_parameters_and_ramps():
    seen = []

    class L1(Penalty):
        def value(self, context: PenaltyContext):
            seen.append(context.progress)
            return context.parameters["fader"]["log_gain"].abs().sum()

    result = fit({"l1": L1(1.0, ramp=0.5)}, steps=5)
    assert seen == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert L1(1e-4, ramp=0.5).weight_at(0.25) == pytest.approx(5e-5)
    assert L1(1e-4, ramp=0.5).weight_at(0.9) == pytest.approx(1e-4)
    # step 1: weight 0.5 times |fader log gain| after one Adam step of size lr = 0.05.
    assert result.penalty_history["l1"][1] == pytest.approx(0.5 * 0.05, rel=1e-3)


def test_penalty_errors():
    with pytest.raises(ConfigError, match="need weight >= 0 and 0 <= ramp <= 1"):
        GainStaging(-1.0)
    with pytest.raises(ConfigError, match="ramp=2"):
        GainStaging(1e-3, ramp=2)
    G = chain_graph()
    renderer = GraphRenderer(G, {"eq": Gain(), "fader": Gain()})  # not prepared
    params = {"eq": {"log_gain": torch.zeros(1, 1)}, "fader": {"log_gain": torch.zeros(1, 1)}}
    _, intermediates = renderer(noise(1, 2, 64), params)
    with pytest.raises(ConfigError, match="no measured level change"):
        GainStaging(types=("eq",)).value(PenaltyContext(0, 0.0, params, intermediates))
    with pytest.raises(NotImplementedError):
        Penalty(1.0).value(PenaltyContext(0, 0.0, params, intermediates))
