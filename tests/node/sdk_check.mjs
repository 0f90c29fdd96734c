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

await assert.rejects(client.chat.completions.create({ model: "no-such-model", messages }), OpenAI.NotFoundError);
await assert.rejects(client.chat.completions.create({ model: "cheap", messages, temperature: 9 }), OpenAI.BadRequestError);
console.log("ok");
