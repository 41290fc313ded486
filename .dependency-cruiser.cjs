/**
 * The architecture as rules (checked by test/architecture.test.ts with dependency-cruiser):
 * no import cycles, and imports flow one way through the layers below (a folder may import its own
 * layer's folder and the layers beneath it, never a layer above or a sibling folder of its layer).
 */
const layers = [
  ['backend'],
  ['tensor'],
  ['autograd'],
  ['ops'],
  ['nn', 'io'],
  ['optim', 'data', 'onnx'],
  ['dist', 'train'],
  ['models', 'viz'],
  ['cli'],
];

const forbidden = [
  {
    name: 'no-cycles',
    comment: 'an import cycle makes behaviour depend on evaluation order',
    severity: 'error',
    from: { path: '^src/' },
    to: { circular: true },
  },
];
layers.forEach((folders, level) => {
  const above = layers.slice(level + 1).flat();
  for (const f of folders) {
    const disallowed = [...above, ...folders.filter((g) => g !== f)];
    if (disallowed.length === 0) continue;
    forbidden.push({
      name: `layer-${f}`,
      comment: `src/${f} may not import ${disallowed.join(', ')} (layers above it, or siblings of its layer)`,
      severity: 'error',
      from: { path: `^src/${f}/` },
      to: { path: `^src/(${disallowed.join('|')})/` },
    });
  }
});

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // Type-only imports are erased at run time but still count as architecture.
    moduleSystems: ['es6'],
  },
};
