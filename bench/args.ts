/** Flags of the bench scripts: `--name value` pairs over defaults; an unknown flag or one without a value is an error. */
export function parseBenchArgs<T extends Record<string, string>>(argv: string[], defaults: T): T {
  const out: Record<string, string> = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    if (!key.startsWith('--') || i + 1 >= argv.length) throw new Error(`unexpected argument '${key}' (flags take a value: --name value)`);
    const name = key.slice(2);
    if (!(name in defaults)) throw new Error(`unknown flag ${key}; known: ${Object.keys(defaults).map((k) => `--${k}`).join(', ')}`);
    out[name] = argv[++i];
  }
  return out as T;
}
