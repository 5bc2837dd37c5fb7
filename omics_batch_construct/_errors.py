"""How the library reports bad input: every problem at once, in one message."""

from __future__ import annotations

from collections.abc import Sequence

# At most this many problems are shown in the message; all of them are in ``problems``.
SHOWN_PROBLEMS = 50


class ProblemsError(ValueError):
    """Input the library cannot use; ``problems`` lists each problem, the message shows them."""

    def __init__(self, subject: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        shown = self.problems[:SHOWN_PROBLEMS]
        more = len(self.problems) - len(shown)
        lines = "\n".join(f"  - {p}" for p in shown) + (f"\n  ... and {more} more" if more else "")
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(f"{subject}: {len(self.problems)} {noun}:\n{lines}")
