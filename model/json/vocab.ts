// The vocabulary of the JSON character model: the layout of model/char-model.ts (pad, unk,
// newline) followed by every printable ASCII character in code order, seen in training or not, so
// that any compact JSON text (non-ASCII written as \uXXXX) encodes without unk.
// Platform-neutral (no node: imports).
import { NEWLINE_ID, PAD_ID, UNK_ID, UNK_TEXT } from '../char-model.js';

export { NEWLINE_ID, PAD_ID, UNK_ID };

/** The first printable ASCII character (space) and its id: id = code − 0x20 + FIRST_CHAR_ID. */
export const FIRST_CHAR_ID = 3;

/** ' ' (0x20) … '~' (0x7E): 95 characters. */
export const PRINTABLE_ASCII: readonly string[] = Array.from({ length: 0x7e - 0x20 + 1 }, (_, i) => String.fromCharCode(0x20 + i));

/**
 * id -> text: 0 pad (''), 1 unk (UNK_TEXT), 2 newline ('\n', the end of a record), then
 * PRINTABLE_ASCII from id 3: 98 ids.
 *
 * @example
 * asciiVocab()[FIRST_CHAR_ID + '{'.charCodeAt(0) - 0x20]; // '{' (id 94)
 */
export function asciiVocab(): string[] {
  const vocab = ['', UNK_TEXT, '\n', ...PRINTABLE_ASCII];
  if (vocab[PAD_ID] !== '' || vocab[UNK_ID] !== UNK_TEXT || vocab[NEWLINE_ID] !== '\n' || vocab[FIRST_CHAR_ID] !== ' ') throw new Error('asciiVocab: layout');
  return vocab;
}
