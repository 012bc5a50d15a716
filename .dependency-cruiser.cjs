/**
 * Layering (STYLE.md): the message flow's core — domain, policy, crypto, kinds, pipeline — never reaches into
 * the adapters (transport, schedule, admin, cli) except for types; no import cycles anywhere.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'core-not-on-adapters',
      comment:
        'domain/, policy/, crypto/, kinds/ and pipeline/ depend on ports, not on transport, schedule, admin, cli',
      severity: 'error',
      from: { path: '^src/(domain|policy|crypto|kinds|pipeline)/' },
      to: {
        path: '^src/(transport|schedule|admin|cli|store|demo)/',
        dependencyTypesNot: ['type-only'],
      },
    },
    {
      name: 'domain-is-pure',
      comment: 'domain/ is the agreement as types: no crypto, pipeline or I/O modules',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { path: '^src/(crypto|pipeline|policy|gateway)' },
    },
    {
      name: 'node-jose-stays-in-crypto',
      comment: 'node-jose is wrapped in src/crypto/ so only allow-listed algorithms are ever used',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/crypto/' },
      to: { path: 'node_modules/node-jose/' },
    },
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
  },
};
