import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { bindMigrationAwareSqlAdapterFactory, type SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import type { SchemaEngine } from '@prisma/schema-engine-wasm';

/**
 * Prisma's schema engine, compiled to wasm. The native engine the Prisma CLI
 * normally downloads is unavailable here, so migrations run through this build,
 * whose version must match `prisma` exactly (see package.json).
 *
 * The package's entry point imports its `.wasm` as an ES module, which Node 20
 * only allows behind `--experimental-wasm-modules`; we instantiate it by hand.
 */
let bindings: Promise<typeof import('@prisma/schema-engine-wasm')> | undefined;

function loadBindings() {
  bindings ??= (async () => {
    const require = createRequire(import.meta.url);
    const glue = (await import('@prisma/schema-engine-wasm/schema_engine_bg')) as Record<string, unknown> & {
      __wbg_set_wasm(exports: WebAssembly.Exports): void;
    };
    const wasmPath = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg').replace(/\.js$/, '.wasm');
    const { instance } = await WebAssembly.instantiate(await readFile(wasmPath), { './schema_engine_bg.js': glue as WebAssembly.ModuleImports });
    glue.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return glue as unknown as typeof import('@prisma/schema-engine-wasm');
  })();
  return bindings;
}

export async function openSchemaEngine(schema: { path: string; content: string }, adapterFactory: SqlMigrationAwareDriverAdapterFactory): Promise<SchemaEngine> {
  const { SchemaEngine } = await loadBindings();
  return SchemaEngine.new({ datamodels: [[schema.path, schema.content]] }, () => {}, bindMigrationAwareSqlAdapterFactory(adapterFactory));
}
