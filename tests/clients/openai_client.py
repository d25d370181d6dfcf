"""Drives `rag serve` with the official `openai` Python SDK, as a user's script
would, and prints what it saw as one JSON object for tests/serve.rs to check.

usage: python openai_client.py BASE_URL QUESTION
"""

import json
import sys

import openai

base_url, question = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0, timeout=600)
seen = {}

models = client.models.list()
seen["models"] = [m.id for m in models.data]
# The answering models, the loaded one first, then the embedding model.
model, embedder = seen["models"][0], seen["models"][-1]

reply = client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": question}], temperature=0, seed=7
)
seen["answer"] = reply.choices[0].message.content
seen["finish_reason"] = reply.choices[0].finish_reason
seen["usage"] = reply.usage.completion_tokens if reply.usage else None
seen["rag"] = (reply.model_extra or {}).get("rag")

pieces, last_extra, usage = [], None, None
stream = client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": question}],
    temperature=0,
    stream=True,
    stream_options={"include_usage": True},
)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)
    if (chunk.model_extra or {}).get("rag"):
        last_extra = chunk.model_extra["rag"]
    if chunk.usage:
        usage = chunk.usage.completion_tokens
seen["streamed"] = "".join(pieces)
seen["stream_rag"] = last_extra
seen["stream_usage"] = usage

one = client.embeddings.create(input="a fugue's subject overlaps itself", model=embedder)
many = client.embeddings.create(input=["first", "second"], model=embedder, encoding_format="float")
seen["embedding_dims"] = [len(one.data[0].embedding)] + [len(d.embedding) for d in many.data]

try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    seen["unknown_model"] = "accepted"
except openai.NotFoundError as error:
    seen["unknown_model"] = error.status_code
try:
    client.chat.completions.create(model=model, messages=[])
    seen["empty_messages"] = "accepted"
except openai.BadRequestError as error:
    seen["empty_messages"] = error.status_code

print(json.dumps(seen))
