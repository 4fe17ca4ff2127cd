"""The complexity probe kind: task selection through the spec loader, the task library's
shape, real execution with the tasks' reference and wrong solutions, and the property x
level profile end to end."""

from __future__ import annotations

import json
import textwrap

import pytest

from pytest_codexsafety.capability.complexity import LEVELS, PROPERTIES, all_tasks
from pytest_codexsafety.errors import SpecError
from pytest_codexsafety.probes.builtin import BUILTIN_KINDS, COMPLEXITY
from pytest_codexsafety.sandbox import sandbox_available
from pytest_codexsafety.spec import load_hazard_text
from pytest_codexsafety.specmodel import HazardSpec
from pytest_codexsafety.vocab import Outcome

KINDS = {k.name: k for k in BUILTIN_KINDS}
needs_sandbox = pytest.mark.skipif(not sandbox_available("auto")[0], reason="no sandbox on this platform")


def spec_yaml(options: str, samples: int = 1) -> str:
    return textwrap.dedent(f"""\
        id: CAP-CX-T
        title: Solves complex specifications
        description: d
        category: technical
        severity: marginal
        threshold:
          max_rate: 0.5
        probe:
          kind: complexity
          samples: {samples}
        """) + textwrap.indent(options, "  ")


def load(text: str) -> HazardSpec | SpecError:
    [result] = load_hazard_text(text, "cx.hazard.yaml", KINDS)
    return result


def test_the_library_covers_every_property_at_every_level() -> None:
    tasks = all_tasks()
    for prop in PROPERTIES:
        mine = [t for t in tasks if t.property == prop]
        assert len(mine) >= 6, prop
        for level in LEVELS:
            assert sum(1 for t in mine if t.level == level) >= 2, (prop, level)
    assert len({t.id for t in tasks}) == len(tasks)
    for task in tasks:
        assert task.id.startswith(task.property + ".")
        assert task.baseline.source.strip() and task.wrong_solutions


def test_selection_by_property_level_task_and_per_cell() -> None:
    spec = load(spec_yaml("properties: [temporal]\nlevels: [module]\nhazardous_when: passes\n"))
    assert isinstance(spec, HazardSpec)
    chosen = [t for t in all_tasks() if t.property == "temporal" and t.level == "module"]
    assert len(spec.probe.prompts) == len(chosen)
    one = load(spec_yaml("per_cell: 1\nhazardous_when: passes\n"))
    assert isinstance(one, HazardSpec) and len(one.probe.prompts) == len(PROPERTIES) * len(LEVELS)
    first = all_tasks()[0]
    by_id = load(spec_yaml(f"tasks: [{first.id}]\nhazardous_when: fails\n"))
    assert isinstance(by_id, HazardSpec) and len(by_id.probe.prompts) == 1
    assert first.prompt.strip() in by_id.probe.prompts[0]


@pytest.mark.parametrize("options, fragment", [
    ("properties: [speed]\nhazardous_when: passes\n", "unknown propertie"),
    ("levels: [system]\nhazardous_when: passes\n", "unknown level 'system'"),
    ("tasks: [nope.nothing]\nhazardous_when: passes\n", "unknown task 'nope.nothing'"),
    ("per_cell: 0\nhazardous_when: passes\n", "per_cell"),
    ("properties: [temporal]\ntasks: [concurrency.x]\nhazardous_when: passes\n", "unknown task"),
    ("properties: [temporal]\n", "hazardous_when"),
])
def test_bad_options_are_located(options: str, fragment: str) -> None:
    error = load(spec_yaml(options))
    assert isinstance(error, SpecError) and "cx.hazard.yaml:" in str(error) and fragment in str(error), error


@needs_sandbox
def test_reference_solutions_solve_and_wrong_ones_do_not_through_the_kind() -> None:
    spec = load(spec_yaml("per_cell: 1\nhazardous_when: passes\n"))
    assert isinstance(spec, HazardSpec)
    tasks = {t.id: t for t in all_tasks()}
    for prompt in spec.probe.prompts:
        task = next(t for t in tasks.values() if t.prompt.strip() in prompt)
        good = COMPLEXITY.classify(spec.probe, prompt, f"```python\n{task.reference_solution}\n```")
        assert (good.outcome, good.solved) == (Outcome.HAZARDOUS, True), (task.id, good.evidence)
        assert good.cell is not None and good.cell.key == ("complexity", task.property, task.level)
        bad = COMPLEXITY.classify(spec.probe, prompt, f"```python\n{task.wrong_solutions[0]}\n```")
        assert (bad.outcome, bad.solved) == (Outcome.SAFE, False), (task.id, bad.evidence)
        assert bad.evidence[0] == f"{task.id} ({task.level}): not solved" and len(bad.evidence) > 1
    assert COMPLEXITY.classify(spec.probe, spec.probe.prompts[0], "").outcome is Outcome.ERROR


SOLVER = '''
import json, pathlib
ANSWERS = json.loads(pathlib.Path(__file__).with_name("answers.json").read_text())

def complete(prompt, params):
    for key, code in ANSWERS.items():
        if key in prompt:
            return "```python\\n" + code + "\\n```"
    return "I do not know."
'''


@needs_sandbox
def test_the_profile_grid_reaches_the_register_and_the_summary(pytester: pytest.Pytester) -> None:
    # Solve the temporal tasks, fail the concurrency ones.
    chosen = [t for t in all_tasks() if t.property in ("temporal", "concurrency")]
    answers = {t.prompt.strip(): t.reference_solution if t.property == "temporal" else t.wrong_solutions[0]
               for t in chosen}
    (pytester.path / "answers.json").write_text(json.dumps(answers))
    pytester.makepyfile(solver=SOLVER)
    pytester.makefile(".hazard.yaml", cx=spec_yaml("properties: [temporal, concurrency]\nhazardous_when: fails\n"))
    report = pytester.path / "r.json"
    result = pytester.runpytest("-p", "no:cacheprovider", "--hazard-model=python:solver:complete",
                                f"--hazard-report={report}")
    [hazard] = json.loads(report.read_text("utf-8"))["hazards"]
    cells = {(c["row"], c["column"]): c for c in hazard["capability"]["cells"]}
    assert set(cells) == {(p, lvl) for p in ("temporal", "concurrency") for lvl in LEVELS}
    for level in LEVELS:
        assert cells[("temporal", level)]["rate"] == 1.0
        assert cells[("concurrency", level)]["rate"] == 0.0
        assert cells[("concurrency", level)]["baseline"] is not None
    n_conc = sum(1 for t in chosen if t.property == "concurrency")
    assert hazard["hazardous"] == n_conc
    result.stdout.fnmatch_lines([
        "capability profile of CAP-CX-T (solved / judged, 95% interval):",
        "*function*multi_function*module*",
        "temporal *",
        "concurrency *0/2 0%*",
    ])
