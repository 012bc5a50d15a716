/**
 * The conformance kit's report: one verdict per requirement id, from the checks of every vector
 * class that names it (FAIL when one failed, PASS when one passed and none failed, SKIP otherwise),
 * with the evidence; printed as lines for a person, or as JSON.
 */

/** A verdict on a requirement. */
export type Verdict = 'PASS' | 'FAIL' | 'SKIP';

/** One observation: what one vector class showed about one requirement. */
export interface Check {
  requirement: string;
  /** The vector class that showed it (`-` for a requirement no class exercises). */
  vector: string;
  verdict: Verdict;
  evidence: string;
}

/** The verdict on one requirement, and the checks behind it. */
export interface RequirementResult {
  id: string;
  verdict: Verdict;
  /** The evidence of the checks that decided the verdict (the failures when it is FAIL). */
  evidence: string[];
  checks: number;
}

/** What was tested, and as whom. */
export interface KitRun {
  tested: { party: string; namespace: string; broker: string };
  as: { party: string; namespace: string };
  startedAt: string;
  durationMs: number;
}

/** The kit's report: one verdict per requirement, the summary, and every check behind them. */
export interface KitReport extends KitRun {
  requirements: RequirementResult[];
  summary: { pass: number; fail: number; skip: number };
  /** True when no requirement failed. */
  ok: boolean;
  checks: Check[];
}

const SECTIONS = ['AMQP', 'JOSE', 'ENV', 'RCPT', 'KIND', 'KEY', 'TREATY', 'DUP', 'ERR', 'VER', 'HB'];

/** Sort key of a requirement id: the order of docs/protocol.md. */
function order(id: string): [number, number] {
  const m = /^P-([A-Z]+)-(\d+)$/.exec(id);
  return [m ? SECTIONS.indexOf(m[1]!) : 99, m ? Number(m[2]) : 0];
}

/** Collate the checks into one verdict per requirement. */
export function collate(checks: Check[], run: KitRun): KitReport {
  const ids = [...new Set(checks.map((c) => c.requirement))].sort((a, b) => {
    const [sa, na] = order(a);
    const [sb, nb] = order(b);
    return sa - sb || na - nb;
  });
  const requirements = ids.map((id): RequirementResult => {
    const mine = checks.filter((c) => c.requirement === id);
    const failed = mine.filter((c) => c.verdict === 'FAIL');
    const passed = mine.filter((c) => c.verdict === 'PASS');
    const verdict: Verdict = failed.length > 0 ? 'FAIL' : passed.length > 0 ? 'PASS' : 'SKIP';
    const deciding = verdict === 'FAIL' ? failed : verdict === 'PASS' ? passed : mine;
    return { id, verdict, evidence: deciding.map((c) => c.evidence), checks: mine.length };
  });
  const count = (v: Verdict) => requirements.filter((r) => r.verdict === v).length;
  const summary = { pass: count('PASS'), fail: count('FAIL'), skip: count('SKIP') };
  return { ...run, requirements, summary, ok: summary.fail === 0, checks };
}

/** The report for a terminal: a header, one line per requirement, then the JSON summary. */
export function formatReport(report: KitReport): string {
  const lines = [
    `accord conformance: ${report.tested.party} gateway (namespace ${report.tested.namespace || '(none)'}) at ${report.tested.broker}, played by the kit as ${report.as.party}`,
  ];
  for (const r of report.requirements) {
    const shown = r.evidence.slice(0, 3).join('; ');
    const more = r.evidence.length > 3 ? `; and ${r.evidence.length - 3} more` : '';
    lines.push(`${r.verdict.padEnd(4)}  ${`[${r.id}]`.padEnd(13)} ${shown}${more}`);
  }
  lines.push(
    JSON.stringify({
      ok: report.ok,
      ...report.summary,
      failed: report.requirements.filter((r) => r.verdict === 'FAIL').map((r) => r.id),
      durationMs: report.durationMs,
    }),
  );
  return `${lines.join('\n')}\n`;
}
