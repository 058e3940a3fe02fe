/** Character classes on UTF-16 code units, shared by the detectors (no regex on the hot path). */

export const isDigit = (c: number): boolean => c >= 48 && c <= 57
export const isUpper = (c: number): boolean => c >= 65 && c <= 90
export const isLower = (c: number): boolean => c >= 97 && c <= 122
export const isAsciiLetter = (c: number): boolean => (c | 32) >= 97 && (c | 32) <= 122
export const isAsciiAlnum = (c: number): boolean => isDigit(c) || isAsciiLetter(c)

/** Unicode spaces that can sit next to a value in text; everything else at or above 0x80 counts as a letter. */
export function isUnicodeSpace (c: number): boolean {
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200b) || c === 0x2028 || c === 0x2029 ||
    c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff
}

/** a letter or digit, counting non-ASCII letters (internationalized names and domains) */
export const isWordLetter = (c: number): boolean => isAsciiAlnum(c) || (c >= 0x80 && !isUnicodeSpace(c))

/** base64url alphabet (RFC 4648 §5) */
export const isBase64Url = (c: number): boolean => isAsciiAlnum(c) || c === 45 /* - */ || c === 95 /* _ */

/** the code unit before `i`, or -1 at the start */
export const before = (s: string, i: number): number => i > 0 ? s.charCodeAt(i - 1) : -1
/** the code unit at `i`, or -1 past the end */
export const at = (s: string, i: number): number => i < s.length ? s.charCodeAt(i) : -1
