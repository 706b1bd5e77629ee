/**
 * Chat templates are code from a model folder: no template may hang the process, abort V8 or exhaust memory.
 * Each case must end quickly with a TokenizerError naming chat_template (severe).
 */
import { describe, expect, it } from 'vitest';
import { renderChatTemplate } from '../../src/tokenizer/index.ts';
import { TokenizerError } from '../../src/errors.ts';

const msgs = [{ role: 'user', content: 'hi' }];

function refused(template: string, re: RegExp = /chat_template: .*(budget|range\(\))/): void {
  const t0 = performance.now();
  let err: unknown;
  try {
    renderChatTemplate(template, msgs);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(TokenizerError);
  expect((err as Error).message).toMatch(re);
  // Generous: the default budget is ~16 M steps; what matters is that it ends at all, without a fatal abort.
  expect(performance.now() - t0).toBeLessThan(30_000);
}

describe('chat template bounds', () => {
  it('range(10^9) is refused before the list is built (was: V8 fatal "invalid size", SIGTRAP)', () => {
    refused('{% for i in range(1000000000) %}x{% endfor %}', /range\(\) of 1000000000 numbers exceeds/);
  });
  it('nested loops within the range bound still stop at the work budget', () => {
    refused('{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}');
  });
  it('a string doubled in a loop stops at the budget, not at V8\'s string limit', () => {
    refused("{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}");
  });
  it('exponential macro recursion stops at the budget', () => {
    refused('{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}');
  });
  it('unbounded macro recursion is a TokenizerError (stack), not a crash', () => {
    refused('{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}', /chat_template: /);
  });
  it('range keeps its Python meaning and a real template renders', () => {
    expect(renderChatTemplate('{% for i in range(3) %}{{ i }}{% endfor %}|{% for i in range(5, 0, -2) %}{{ i }}{% endfor %}', msgs)).toBe('012|531');
    const chatml = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    expect(renderChatTemplate(chatml, msgs, { addGenerationPrompt: true })).toBe('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
    expect(() => renderChatTemplate("{{ raise_exception('no system') }}", msgs)).toThrow(/chat_template: no system/);
    expect(renderChatTemplate("{{ strftime_now('%Y') }}", msgs)).toBe(String(new Date().getFullYear()));
  });
  it('the budget grows with the conversation: a long history renders', () => {
    const long = Array.from({ length: 2000 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: 'word '.repeat(500) }));
    const out = renderChatTemplate('{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}', long);
    expect(out.length).toBeGreaterThan(5_000_000);
  });
});
