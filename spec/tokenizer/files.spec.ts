/** loadTokenizerFiles: special tokens and chat templates come from the folder's files, in every form HF writes. */
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyChatTemplate, loadTokenizerFiles, plainChatPrompt, renderChatTemplate } from '../../src/tokenizer/index.ts';
import { FALCON_JSON } from './oracle.ts';

/** A temporary model folder whose tokenizer.json links to the shared Falcon file (never copied into the repo). */
function folder(files: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'falcon-tok-'));
  symlinkSync(FALCON_JSON, path.join(dir, 'tokenizer.json'));
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  return dir;
}

const CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

describe('loadTokenizerFiles', () => {
  it('Falcon-7B style config: string eos, no bos, no template', async () => {
    const f = await loadTokenizerFiles(folder({ 'tokenizer_config.json': { add_prefix_space: false, eos_token: '<|endoftext|>', model_max_length: 2048, tokenizer_class: 'PreTrainedTokenizerFast' } }));
    expect(f.eosToken).toBe('<|endoftext|>');
    expect(f.eosTokenId).toBe(11);
    expect(f.bosToken).toBeUndefined();
    expect(f.chatTemplate).toBeUndefined();
    expect(f.tokenizer.vocabSize).toBe(65024);
    expect(() => applyChatTemplate(f, [{ role: 'user', content: 'Hi' }])).toThrow(/no chat_template/);
    expect(applyChatTemplate(f, [{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true, fallback: true })).toBe('User: Hi\nAssistant:');
  });

  it('AddedToken-object special tokens, and special_tokens_map.json as the fallback source', async () => {
    const f = await loadTokenizerFiles(
      folder({
        'tokenizer_config.json': { eos_token: { content: '>>ANSWER<<', lstrip: false, normalized: false, rstrip: false, single_word: false }, chat_template: CHATML },
        'special_tokens_map.json': { bos_token: { content: '>>TITLE<<' }, eos_token: '<|endoftext|>', pad_token: '>>SUMMARY<<' },
      }),
    );
    expect(f.eosToken).toBe('>>ANSWER<<'); // tokenizer_config wins
    expect(f.eosTokenId).toBe(5);
    expect(f.bosToken).toBe('>>TITLE<<');
    expect(f.bosTokenId).toBe(0);
    expect(f.padTokenId).toBe(3);
    expect(f.chatTemplate).toBe(CHATML);
    expect(applyChatTemplate(f, [{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true })).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
  });

  it('chat_template as a list of {name, template}', async () => {
    const f = await loadTokenizerFiles(folder({ 'tokenizer_config.json': { chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D' }] } }));
    expect(f.chatTemplate).toBe('D');
    expect(f.chatTemplates).toEqual({ tool_use: 'T', default: 'D' });
  });

  it('chat_template.jinja beside the config wins', async () => {
    const f = await loadTokenizerFiles(folder({ 'tokenizer_config.json': { chat_template: 'old' }, 'chat_template.jinja': '{{ bos_token }}new' }));
    expect(f.chatTemplate).toBe('{{ bos_token }}new');
  });
});

describe('renderChatTemplate', () => {
  it('bos/eos come from the caller (i.e. from the files), never constants', () => {
    const tpl = '{{ bos_token }}{% for m in messages %}{{ m.content | trim }}{{ eos_token }}{% endfor %}';
    expect(renderChatTemplate(tpl, [{ role: 'user', content: '  x  ' }], { bosToken: '<B>', eosToken: '<E>' })).toBe('<B>x<E>');
  });

  it('plain fallback format', () => {
    expect(plainChatPrompt([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }], true)).toBe('System: Be brief.\nUser: Hi\nAssistant: Hello!\nAssistant:');
    expect(renderChatTemplate(null, [{ role: 'user', content: 'Hi' }], { fallback: true })).toBe('User: Hi\n');
  });
});
