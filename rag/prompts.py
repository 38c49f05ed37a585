"""Every prompt papers sends to a language model, and the fixed phrase for "cannot answer"."""

from __future__ import annotations

__all__ = [
    "CONDENSE_PROMPT",
    "DECLINED_CLOSEST",
    "EXCERPT_TEMPLATE",
    "NOT_IN_LIBRARY",
    "QUOTES_ONLY",
    "SYSTEM_PROMPT",
    "UNUSABLE_REPLY",
    "UNUSABLE_REPLY_NOTHING_TO_QUOTE",
    "USER_TEMPLATE",
]

# Said verbatim whenever the library has nothing that answers; the answer checker and the
# front-ends recognise it, so keep it one plain sentence.
NOT_IN_LIBRARY = "The library has no papers that answer this question."
# ... and when the relevance rule declined, the same sentence naming the closest papers
# ("closest: AWQ: Activation-aware ..., similarity 0.31"), so the user can rephrase. It
# starts with NOT_IN_LIBRARY's words, which is what the front-ends recognise.
DECLINED_CLOSEST = NOT_IN_LIBRARY[:-1] + " (closest: {closest})."

# When the model replied but nothing of its reply is left to show (empty, only citation
# numbers, only an invented "Question:"), the papers were found and the model failed, so
# "no papers" would mislead. The note goes before the abstract sentences shown instead
# (the extractive answer); {why} is rag.answer.why_unusable's reason.
UNUSABLE_REPLY = (
    "The model's reply could not be used ({why}); "
    "here are the abstract sentences closest to the question instead:"
)
# When a quotes-first model (a small base model, ChatModel.quotes_first) added nothing the
# abstracts support: the quotes it followed are the answer.
QUOTES_ONLY = (
    "The model added nothing the abstracts support ({why}); the answer is the abstract "
    "sentences closest to the question."
)
# ... and the whole answer when no abstract sentence is close enough to quote either.
UNUSABLE_REPLY_NOTHING_TO_QUOTE = (
    "The model's reply could not be used ({why}) and no abstract sentence is close enough "
    "to the question to quote; ask again, or choose another model."
)

# Written as the opening of a document as much as an instruction: the embedded model is a
# pretrained (base) model that continues text rather than following orders.
SYSTEM_PROMPT = (
    "Below are numbered excerpts from research-paper abstracts, then a question. "
    "The answer uses only facts stated in the excerpts, in two or three short sentences, "
    "and ends each sentence with the number of the excerpt it comes from in brackets, "
    f"like [1]. If the excerpts do not answer the question, the answer is: {NOT_IN_LIBRARY}"
)

# One excerpt: its citation number, the paper's title, then the sentences of its abstract
# that bear most on the question.
EXCERPT_TEMPLATE = "[{n}] Title: {title}\n{evidence}"

# The labels "Excerpts:" and "Question:" matter: the embedded backend renders the chat as a
# document ending in "Answer:" and stops when the model starts a new "Question:".
USER_TEMPLATE = "Excerpts:\n{excerpts}\n\nQuestion: {question}"

# Only used with a capable chat model (Ollama); the tiny embedded model is bad at it.
CONDENSE_PROMPT = (
    "Rewrite the follow-up question as one standalone question that can be understood "
    "without the conversation. Name the method or paper it refers to. Reply with the "
    "question only.\n\n"
    "Conversation:\n{history}\n\n"
    "Follow-up question: {question}\n"
    "Standalone question:"
)
