export const REDACTED = '***REDACTED***';

/**
 * Secrets given as arrays or objects (a whole credentials record) contribute
 * every leaf value. Strings count from one character; numbers and booleans only
 * from four, so a port or `true` does not erase every digit or word.
 */
function collectSecrets(value: unknown, out: Set<string>, seen: WeakSet<object>): void {
  if (typeof value === 'string') {
    if (value.length > 0) out.add(value);
  } else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    const text = String(value);
    if (text.length >= 4) out.add(text);
  } else if (Array.isArray(value) || isPlainObject(value)) {
    if (seen.has(value)) return;
    seen.add(value);
    for (const item of Object.values(value)) collectSecrets(item, out, seen);
  }
}

function base64Forms(text: string): string[] {
  const bytes = Buffer.from(text, 'utf8');
  const padded = bytes.toString('base64');
  return [padded, padded.replace(/=+$/, ''), bytes.toString('base64url')];
}

function encodedForms(secret: string): string[] {
  const forms = [secret];
  // Encodings of a one-to-three character secret are short, common strings
  // ("61", "YQ"): redacting them would shred unrelated text.
  if (secret.length < 4) return forms;
  const hex = Buffer.from(secret, 'utf8').toString('hex');
  forms.push(...base64Forms(secret), hex, hex.toUpperCase(), JSON.stringify(secret).slice(1, -1));
  try {
    const uri = encodeURIComponent(secret);
    forms.push(uri, uri.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()));
    forms.push(new URLSearchParams({ s: secret }).toString().slice(2));
  } catch {
    // A lone surrogate cannot be percent-encoded, so it cannot appear encoded either.
  }
  return forms;
}

interface Matcher {
  /** Every form of every secret, longest first. */
  forms: string[];
  /** Compiled on the first text that holds one of the forms. */
  pattern: RegExp | null;
}

function buildMatcher(secrets: readonly unknown[]): Matcher | null {
  const values = new Set<string>();
  collectSecrets(secrets, values, new WeakSet());
  if (values.size === 0) return null;

  const patterns = new Set<string>();
  for (const secret of values) for (const form of encodedForms(secret)) patterns.add(form);
  // Any two secrets may be a user name and password sent as HTTP Basic.
  for (const user of values) {
    for (const password of values) {
      if (user !== password) for (const form of base64Forms(`${user}:${password}`)) patterns.add(form);
    }
  }
  // Longest first, in one pass: an alternation prefers the earlier branch, and
  // one pass never matches inside a marker it has just written.
  const forms = [...patterns].filter((p) => p.length > 0).sort((a, b) => b.length - a.length);
  return { forms, pattern: null };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function apply(text: string, matcher: Matcher | null): string {
  // Most texts (a healthy check's details) hold no secret: plain substring searches answer
  // that without compiling the alternation, which costs more than the check's own parsing.
  if (matcher === null || !matcher.forms.some((form) => text.includes(form))) return text;
  matcher.pattern ??= new RegExp(matcher.forms.map(escapeRegExp).join('|'), 'g');
  return text.replace(matcher.pattern, () => REDACTED);
}

export interface Scrubber {
  /** The text with every secret replaced by ***REDACTED***. */
  text(text: string): string;
  /** A deep copy of a JSON-ish value with every string scrubbed, keys included. */
  deep<T>(value: T): T;
}

/**
 * A scrubber for one set of secrets: it replaces every occurrence of each secret
 * with ***REDACTED***, as given and in its base64, base64url, hex, URL-encoded and
 * JSON-escaped forms, plus the base64 of "a:b" for every two secrets a and b (an
 * HTTP Basic header). The pattern is compiled once, on the first string that needs
 * it: a check whose outcome holds no text builds nothing, and the regular
 * expression is compiled only once a text is found to hold a secret.
 */
export function createScrubber(secrets: readonly unknown[]): Scrubber {
  let matcher: Matcher | null | undefined;
  const scrub = (text: string): string => {
    if (text.length === 0) return text;
    if (matcher === undefined) matcher = buildMatcher(secrets);
    return apply(text, matcher);
  };

  const deep = <T>(value: T): T => {
    const copies = new WeakMap<object, unknown>();
    const walk = (node: unknown): unknown => {
      if (typeof node === 'string') return scrub(node);
      if (node instanceof Date) return new Date(node.getTime());
      if (!Array.isArray(node) && !isPlainObject(node)) return node;
      const known = copies.get(node);
      if (known !== undefined) return known;
      if (Array.isArray(node)) {
        const copy: unknown[] = [];
        copies.set(node, copy);
        for (const item of node) copy.push(walk(item));
        return copy;
      }
      const copy: Record<string, unknown> = Object.getPrototypeOf(node) === null ? Object.create(null) : {};
      copies.set(node, copy);
      for (const [key, item] of Object.entries(node)) copy[scrub(key)] = walk(item);
      return copy;
    };
    return walk(value) as T;
  };

  return { text: scrub, deep };
}

/** One-off form of `createScrubber(secrets).text(text)`. */
export function scrubText(text: string, secrets: readonly unknown[]): string {
  return createScrubber(secrets).text(text);
}

/** One-off form of `createScrubber(secrets).deep(value)`. */
export function scrubDeep<T>(value: T, secrets: readonly unknown[]): T {
  return createScrubber(secrets).deep(value);
}
