import { z } from 'zod';

/**
 * String schemas that refuse control characters. PostgreSQL cannot store U+0000 in a
 * text column (the insert fails as an internal error), and the other C0 controls and
 * DEL have no place in a name, an id or a search; a multi-line text keeps its tabs and
 * line breaks. Every string input of the API is built from these.
 */

/** Any C0 control (U+0000–U+001F) or DEL. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these patterns exist to find control characters
const CONTROL = /[\u0000-\u001f\u007f]/;
/** Any C0 control but tab, line feed and carriage return, or DEL. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these patterns exist to find control characters
const CONTROL_BUT_WHITESPACE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
const CONTROLS_BUT_WHITESPACE = new RegExp(CONTROL_BUT_WHITESPACE.source, 'g');

const NO_CONTROL_IN_LINE = 'Must not contain control characters (such as NUL or line breaks)';
const NO_CONTROL_IN_TEXT = 'Must not contain control characters (such as NUL)';

/** Whether a single-line value holds a control character. */
export const hasControlCharacter = (value: string): boolean => CONTROL.test(value);

/** `value` without the control characters a multi-line text may not hold (tabs and line breaks stay). */
export const stripControlCharacters = (value: string): string => value.replace(CONTROLS_BUT_WHITESPACE, '');

/** A string on one line: no control character at all. Not trimmed (ids, keys, tokens). */
export const plain = () => z.string().refine((value) => !CONTROL.test(value), NO_CONTROL_IN_LINE);

/** A single-line text field (a name, a title, an address, a search), trimmed, at most `max` characters. */
export const line = (max = 200) =>
  z
    .string()
    .trim()
    .max(max)
    .refine((value) => !CONTROL.test(value), NO_CONTROL_IN_LINE);

/** A multi-line text (notes, a message body), trimmed, at most `max` characters: tabs and line breaks allowed. */
export const text = (max = 5000) =>
  z
    .string()
    .trim()
    .max(max)
    .refine((value) => !CONTROL_BUT_WHITESPACE.test(value), NO_CONTROL_IN_TEXT);

/** A record's, user's or conversation's id. */
export const idSchema = plain().min(1).max(64);
