"""Drives rag's MCP tools with the official `mcp` Python SDK, as an agent
would: over stdio (spawning `rag mcp`) or streamable HTTP (`/mcp` of `rag
serve`). Prints what it saw as one JSON object for tests/serve.rs to check.

usage: python mcp_client.py stdio QUESTION RAG_BINARY [ARG...]
       python mcp_client.py http QUESTION URL
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client


def text_of(result):
    return "\n".join(block.text for block in result.content if getattr(block, "text", None))


async def exercise(read, write, question):
    seen = {}
    async with ClientSession(read, write) as session:
        init = await session.initialize()
        seen["server"] = init.server_info.name
        tools = await session.list_tools()
        seen["tools"] = sorted(tool.name for tool in tools.tools)
        found = await session.call_tool("search", {"query": "fugue stretto", "k": 2})
        seen["search_error"] = bool(found.is_error)
        seen["search"] = found.structured_content
        seen["search_text"] = text_of(found)
        answered = await session.call_tool("ask", {"question": question})
        seen["ask_error"] = bool(answered.is_error)
        seen["ask"] = answered.structured_content
        seen["ask_text"] = text_of(answered)
        bad = await session.call_tool("search", {"query": "fugue", "mode": "psychic"})
        seen["bad_mode_error"] = bool(bad.is_error)
        seen["bad_mode_text"] = text_of(bad)
        status = await session.call_tool("status", {})
        seen["status"] = status.structured_content
    return seen


async def main():
    kind, question = sys.argv[1], sys.argv[2]
    if kind == "stdio":
        params = StdioServerParameters(
            command=sys.argv[3], args=sys.argv[4:], env=dict(os.environ), cwd=os.getcwd()
        )
        async with stdio_client(params) as streams:
            seen = await exercise(streams[0], streams[1], question)
    else:
        async with streamable_http_client(sys.argv[3] + "/mcp") as streams:
            seen = await exercise(streams[0], streams[1], question)
    print(json.dumps(seen))


asyncio.run(main())
