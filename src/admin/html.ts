/**
 * The console's HTML primitives: the `html` template tag (literal parts are trusted markup, every
 * interpolated value is escaped), the one stylesheet and how times are shown.
 */

/** A fragment of HTML that is already escaped. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escape text for an HTML element or a quoted attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

type Value = Html | string | number | boolean | null | undefined | readonly Value[];

const render = (v: Value): string => {
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(String(v));
};

/** The template tag: literal parts are trusted markup, every interpolated value is escaped. */
export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1]!;
  });
  return new Html(out);
}

/** Markup written in this code base (the stylesheet), inserted as it is. */
export const trusted = (text: string): Html => new Html(text);

export const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d1d1f; background: #fafafa; }
h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
header p { margin: 0 0 1rem; color: #555; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: 1rem; }
section { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: .6rem .9rem; }
section.wide { grid-column: 1 / -1; }
h2 { font-size: 1rem; margin: .2rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .15rem .4rem; border-bottom: 1px solid #eee; vertical-align: top; }
td.count, th.count { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 12px; }
.up { color: #0a7a2f; font-weight: 600; }
.down, .bad { color: #b3261e; font-weight: 600; }
.muted { color: #777; }
.big { font-size: 1.6rem; font-weight: 600; }
nav { margin: 0 0 1rem; }
form.inline { display: inline; margin-left: 1rem; }
#banner { padding: .6rem .9rem; border-radius: 6px; margin: 0 0 1rem; font-weight: 600; }
#banner.ready { background: #e3f4e8; color: #0a5a23; border: 1px solid #9fd3ae; }
#banner.not-ready { background: #fde7e6; color: #8c1d18; border: 1px solid #f1a29c; }
pre { background: #fff; border: 1px solid #ddd; padding: .6rem; overflow: auto; }
`;

/** An ISO time shown to the second, or a dash. */
export const when = (iso: string | undefined) =>
  iso === undefined ? '—' : iso.replace('T', ' ').replace(/\..*Z$/, 'Z');
