// Usage: node sdk_check.mjs BASE_URL. Exits non-zero, with the reason on stderr, if the proxy is not a drop-in.
import assert from "node:assert/strict";
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.argv[2], apiKey: "unused", maxRetries: 0 });
const messages = [{ role: "user", content: "Say hello" }];

const { data: completion, response } = await client.chat.completions
  .create({ model: "router", messages })
  .withResponse();
assert.ok(completion.choices[0].message.content.length > 0);
assert.ok(response.headers.get("x-router-model"));
assert.ok(Number(response.headers.get("x-router-p-acceptable")) >= 0);

let text = "";
let usage = null;
const stream = await client.chat.completions.create({
  model: "cheap",
  messages,
  stream: true,
  stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  for (const choice of chunk.choices) text += choice.delta.content ?? "";
}
assert.ok(text.length > 0);
assert.ok(usage && usage.total_tokens > 0);

const tool = {
  type: "function",
  function: {
    name: "lookup",
    parameters: {
      type: "object",
      properties: { filters: { type: "array", items: { type: "object", properties: { key: { type: "string" } }, required: ["key"] } } },
      required: ["filters"],
    },
  },
};
const withTool = await client.chat.completions.create({ model: "cheap", messages, tools: [tool], tool_choice: "required" });
const args = JSON.parse(withTool.choices[0].message.tool_calls[0].function.arguments);
assert.ok(Array.isArray(args.filters));

// The Responses API (issue #17): plain, streamed, and with a function tool.
const created = await client.responses.create({ model: "router", instructions: "Be brief.", input: "Say hello" });
assert.equal(created.status, "completed");
assert.ok(created.output_text.length > 0);
let streamed = "";
let completed = null;
for await (const event of await client.responses.create({ model: "cheap", input: "Say hello", stream: true })) {
  if (event.type === "response.output_text.delta") streamed += event.delta;
  if (event.type === "response.completed") completed = event.response;
}
assert.ok(streamed.length > 0);
assert.ok(completed && completed.usage.output_tokens > 0);
const fnTool = { type: "function", name: "lookup", parameters: tool.function.parameters, strict: false };
const called = await client.responses.create({ model: "router", input: "Look something up", tools: [fnTool] });
assert.equal(called.output[0].type, "function_call");
assert.ok(Array.isArray(JSON.parse(called.output[0].arguments).filters));

await assert.rejects(client.chat.completions.create({ model: "no-such-model", messages }), OpenAI.NotFoundError);
await assert.rejects(client.chat.completions.create({ model: "cheap", messages, temperature: 9 }), OpenAI.BadRequestError);
console.log("ok");
