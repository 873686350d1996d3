/** Plain-text tables for the CLI's human-readable output. */
export function table (headers: string[], rows: Array<Array<string | number | boolean | undefined | null>>): string {
  const cells = rows.map(r => r.map(c => c === undefined || c === null ? '-' : String(c)))
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map(r => r[i]?.length ?? 0)))
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()
  return [line(headers), ...cells.map(line)].join('\n') + '\n'
}

/** Key/value lines for one object. */
export function details (pairs: Array<[string, unknown]>): string {
  const width = Math.max(...pairs.map(([k]) => k.length))
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v === undefined || v === null ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('\n') + '\n'
}
