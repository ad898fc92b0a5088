"""The ``rules`` backend's brain: a deterministic, model-free reader of operator requests.

Pure functions over a snapshot of the hub's state (``World``): ``interpret`` turns one message
into an Intent (tool calls, an answer, a question back, or "unknown"); ``render`` turns tool
replies into short plain answers; ``scenarios`` holds the eval format and its scoring.
"""

from jarvis.plugins.llm_rules.intents import Answer, AskBack, Call, Intent, ToolRequest, Unknown
from jarvis.plugins.llm_rules.parser import DANGEROUS, interpret
from jarvis.plugins.llm_rules.render import render
from jarvis.plugins.llm_rules.scenarios import Scenario, load_scenarios, resolve_placeholders, score
from jarvis.plugins.llm_rules.world import Ref, World

__all__ = [
    "DANGEROUS", "Answer", "AskBack", "Call", "Intent", "Ref", "Scenario", "ToolRequest", "Unknown", "World",
    "interpret", "load_scenarios", "render", "resolve_placeholders", "score",
]
