// Usage: node ai_sdk_check.mjs BASE_URL. The Vercel AI SDK's default OpenAI provider, `openai(model)`, speaks the
// Responses API; it must work against the proxy, routed and named, whole and streamed, with a tool.
import assert from "node:assert/strict";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText, tool, jsonSchema } from "ai";

const openai = createOpenAI({ baseURL: process.argv[2], apiKey: "unused" });

for (const model of ["router", "cheap"]) {
  const whole = await generateText({ model: openai(model), prompt: "Say hello", maxRetries: 0 });
  assert.ok(whole.text.length > 0, `${model}: no text`);
  assert.ok(whole.usage.outputTokens > 0, `${model}: no usage`);
  assert.ok(whole.response.headers["x-router-model"], `${model}: no x-router-model header`);
  assert.equal(whole.response.body.object, "response", `${model}: the provider did not use the Responses API`);

  const streamed = streamText({ model: openai(model), prompt: "Say hello", maxRetries: 0 });
  let text = "";
  for await (const delta of streamed.textStream) text += delta;
  assert.ok(text.length > 0, `${model}: nothing streamed`);
  assert.ok((await streamed.usage).outputTokens > 0, `${model}: no streamed usage`);
}

const lookup = tool({
  description: "Look something up",
  inputSchema: jsonSchema({ type: "object", properties: { key: { type: "string" } }, required: ["key"] }),
});
const called = await generateText({
  model: openai("router"),
  prompt: "Look something up",
  tools: { lookup },
  toolChoice: "required",
  maxRetries: 0,
});
assert.equal(called.toolCalls.length, 1);
assert.equal(called.toolCalls[0].toolName, "lookup");
assert.equal(typeof called.toolCalls[0].input.key, "string");
console.log("ai sdk ok");
