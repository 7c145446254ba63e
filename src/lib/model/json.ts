/** JSON details JSON.parse hides. */

/**
 * The first duplicate object key in valid JSON text (JSON.parse silently keeps the last one),
 * as a JSON pointer-ish path, or undefined. Linear, no allocation but the key strings.
 */
export function duplicateJsonKey(text: string): string | undefined {
  const stack: (Set<string> | null)[] = [];
  const path: string[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q === -1) return undefined; // not valid JSON; JSON.parse reported it
        let backslashes = 0;
        for (let k = q - 1; text.charCodeAt(k) === 0x5c; k--) backslashes++;
        j = q + 1;
        if (backslashes % 2 === 0) break;
      }
      const top = stack[stack.length - 1];
      if (top && expectKey) {
        const raw = text.slice(i + 1, j - 1);
        const key = raw.includes('\\') ? (JSON.parse(text.slice(i, j)) as string) : raw;
        if (top.has(key)) return `/${[...path.slice(0, stack.length - 1), key].join('/')}`;
        top.add(key);
        path[stack.length - 1] = key;
        expectKey = false;
      }
      i = j - 1;
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
      path[stack.length - 1] = '';
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      path.length = stack.length;
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] instanceof Set;
    }
  }
  return undefined;
}

