/** The ```ts blocks of a README section (from its "## " heading to the next). */
export function sectionCodeBlocks(readme: string, heading: string): string[] {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README has no section ${JSON.stringify(heading)}`);
  const next = readme.indexOf("\n## ", start + heading.length + 1);
  const section = readme.slice(start, next < 0 ? undefined : next);
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
}
