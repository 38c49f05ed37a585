"""Optional LLM judge: an Ollama model grades each answer 1-5 against the reference answer."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

JUDGE_PROMPT = """Grade the ANSWER to the QUESTION against the REFERENCE answer.
5 = says everything the reference says, nothing wrong; 3 = partly right; 1 = wrong or empty.
Reply with the grade only, a single digit from 1 to 5.

QUESTION: {question}
REFERENCE: {reference}
ANSWER: {answer}
GRADE:"""


class OllamaJudge:
    """Grades answers with an Ollama chat model over HTTP; ``grade`` returns 1-5 or None."""

    def __init__(self, model: str, host: str, *, timeout_s: float = 120.0) -> None:
        self.model = model
        self.host = host.rstrip("/")
        self.timeout_s = timeout_s
        self.name = f"ollama:{model}"

    def _post(self, path: str, body: dict | None, timeout: float) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.host + path, data=data,
                                     headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read().decode())

    def unavailable(self) -> str | None:
        """Why the judge cannot run (server down, model missing), or None if it can."""
        try:
            tags = self._post("/api/tags", None, 5.0)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            return f"no Ollama server at {self.host} ({exc}); answers are not judged"
        names = {t.get("name", "") for t in tags.get("models", [])}
        if self.model not in names and f"{self.model}:latest" not in names:
            return (
                f"Ollama has no model {self.model!r}; run `ollama pull {self.model}`; "
                "answers are not judged"
            )
        return None

    def grade(self, question: str, reference: str, answer: str) -> int | None:
        prompt = JUDGE_PROMPT.format(question=question, reference=reference, answer=answer)
        body = {"model": self.model, "stream": False, "options": {"temperature": 0},
                "messages": [{"role": "user", "content": prompt}]}  # fmt: skip
        try:
            reply = self._post("/api/chat", body, self.timeout_s)
        except (OSError, urllib.error.URLError, ValueError):
            return None
        m = re.search(r"[1-5]", reply.get("message", {}).get("content", ""))
        return int(m.group(0)) if m else None
