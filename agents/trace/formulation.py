"""Use case (a): OptoPrime refines one formulation until it validates, solves and passes.

The trainable parameter is the model's IR (a dict).  The traced workflow is
``compile_ir`` → ``evaluate`` (solve and check, through
:func:`agents.common.evaluate.evaluate_candidate`) → ``verdict``; the
feedback is the evaluation's (validation errors with their locations, IIS
names, unboundedness, a wrong sense, an all-zero solution), an error node's
message, or a user's remark.  The first IR comes from one LLM call.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from agents.common.evaluate import Candidate, Evaluation, evaluate_candidate
from agents.common.loop import better
from agents.common.prompts import load_prompt
from agents.llm.structured import complete_json
from agents.trace.graph import Graph
from agents.trace.nodes import Node
from agents.trace.optoprime import OptoPrime
from workbench.errors import AgentOutputError
from workbench.formulation import Attempt, Formulation
from workbench.ir.io import model_from_dict
from workbench.ir.model import Model
from workbench.result import Result

__all__ = ["InitialReply", "OptoPrimeAgent", "compile_ir", "evaluate", "verdict"]

HERE = Path(__file__).parent
COMMON = HERE.parent / "common"
ACCEPTED = "accepted"


class InitialReply(BaseModel):
    """The first reply: the model in the five-element IR."""

    model: dict[str, Any] = Field(description="the five-element IR model")


def compile_ir(ir: dict[str, Any]) -> Model:
    """Validate the IR document and build the model; an error names the faulty element."""
    return model_from_dict(ir)


def evaluate(
    ir: dict[str, Any], model: Model, problem: str, solve: Callable[..., Result]
) -> Evaluation:
    """Solve the compiled model and check the outcome against the problem text.

    The checks cover the solver status, infeasibility (with the IIS names),
    unboundedness, an objective sense that contradicts the text and an
    all-zero solution; ``feedback`` is ``None`` when the model is accepted.
    """
    del model  # compiled above: evaluate only what compiles
    return evaluate_candidate(Candidate(ir=ir), text=problem, solve=solve)


def verdict(evaluation: Evaluation) -> str:
    """``"accepted"``, or what is wrong with the model."""
    return ACCEPTED if evaluation.feedback is None else evaluation.feedback


class OptoPrimeAgent:
    """Formulate with one LLM call, then refine the IR with OptoPrime steps.

    Parameters
    ----------
    memory
        How many past (variables, feedback) pairs each step shows.
    """

    name: ClassVar[str] = "optoprime"

    def __init__(self, memory: int = 5) -> None:
        self.memory = memory

    def formulate(
        self, text: str, *, llm: Any, solve: Callable[..., Result], budget: int = 3,
        remark: str | None = None,
    ) -> Formulation:  # fmt: skip
        """Formulate *text*; at most *budget* OptoPrime steps refine the model.

        Parameters
        ----------
        text
            The problem description.
        llm
            The client; every call is in its ``calls`` log.
        solve
            The solve function.
        budget
            The number of OptoPrime steps (one LLM call each) after the first call.
        remark
            A user's remark on the first model, given as feedback even if it is accepted.
        """
        start = len(getattr(llm, "calls", []))
        system, first = load_prompt(HERE, "modeller"), load_prompt(HERE, "initial")
        spec = load_prompt(COMMON, "ir_reference")
        msgs = [
            {"role": "system", "content": system.text},
            {"role": "user", "content": first.render(ir_reference=spec.text, problem=text)},
        ]
        transcript: list[dict[str, Any]] = [
            {**msgs[0], "prompt": f"trace/modeller@{system.version}"},
            {**msgs[1], "prompt": f"trace/initial@{first.version}+ir_reference@{spec.version}"},
        ]
        ir: dict[str, Any] = {}
        parse_error: str | None = None
        try:
            reply, completion = complete_json(llm, msgs, InitialReply)
            ir, raw = reply.model, completion.text
        except AgentOutputError as e:
            parse_error, raw = str(e), e.raw
        transcript.append({"role": "assistant", "content": raw, "prompt": "reply:initial"})
        return self.refine(
            ir, text, llm=llm, solve=solve, budget=budget, remark=remark,
            transcript=transcript, start_calls=start, parse_error=parse_error,
        )  # fmt: skip

    def refine(
        self, ir: dict[str, Any], text: str, *, llm: Any, solve: Callable[..., Result],
        budget: int = 3, remark: str | None = None, transcript: list[dict[str, Any]] | None = None,
        start_calls: int | None = None, parse_error: str | None = None,
    ) -> Formulation:  # fmt: skip
        """Refine *ir* with OptoPrime until accepted or *budget* steps are spent."""
        start = len(getattr(llm, "calls", [])) if start_calls is None else start_calls
        transcript = list(transcript or [])
        graph = Graph("optoprime-formulation")
        spec = load_prompt(COMMON, "ir_reference")
        param = graph.node(ir, trainable=True, name="model_ir", description=spec.text)
        problem = graph.node(text, name="problem")
        solver = graph.node(solve, name="solve")
        ops = [graph.bundle(f) for f in (compile_ir, evaluate, verdict)]
        opt = OptoPrime(
            [param], llm, memory=self.memory, instruction=load_prompt(HERE, "instruction").text
        )
        if parse_error:
            opt.pending.append(
                f"it was not a valid JSON object of the required form: {parse_error}"
            )
        attempts: list[Attempt] = []
        best: Evaluation | None = None
        for k in range(budget + 1):
            out, ev = _forward(ops, param, problem, solver)
            feedback = _feedback(out)
            if ev is not None:
                best = better(best, ev)
            accepted = feedback == ACCEPTED
            if remark and k == 0:
                feedback = f"{'' if accepted else feedback + chr(10)}A user's remark: {remark}"
                accepted = False
            error = out.error or (parse_error if k == 0 else None)
            attempts.append(Attempt(
                index=k, model=ev.model if ev else None, result=ev.result if ev else None,
                feedback="" if accepted else feedback, error=error if not accepted else None,
            ))  # fmt: skip
            if accepted or k == budget:
                break
            rec = opt.step(opt.backward(out, feedback))
            transcript.append({**rec.messages[1], "prompt": opt.prompt_tag})
            transcript.append(
                {"role": "assistant", "content": rec.response or "", "prompt": f"reply:step{k}"}
            )
        calls = list(getattr(llm, "calls", []))[start:]
        return Formulation(
            model=best.model if best else None,
            result=best.result if best else None,
            attempts=attempts,
            transcript=transcript,
            tokens=sum(
                int(c.get("prompt_tokens", 0)) + int(c.get("completion_tokens", 0)) for c in calls
            ),
            calls=len(calls),
        )


def _forward(
    ops: list[Callable[..., Node]], param: Node, problem: Node, solver: Node
) -> tuple[Node, Evaluation | None]:
    compile_op, evaluate_op, verdict_op = ops
    model = compile_op(param)
    ev = evaluate_op(param, model, problem, solver)
    out = verdict_op(ev)
    return out, (ev.value if not ev.is_error else None)


def _feedback(out: Node) -> str:
    if not out.is_error:
        return str(out.value)
    root = out  # the error that started it: later steps only report "not run"
    while (bad := next((p for p in root.parents if p.is_error), None)) is not None:
        root = bad
    where = root.op.function if root.op is not None else "the workflow"
    return (
        f"The workflow failed in {where}: {root.value}. "
        "Fix exactly this and keep the rest of the model."
    )
