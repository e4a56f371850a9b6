// Copies config/ciap.schema.json into helm/ciap/values.schema.json (definitions.ciapConfig and the
// definitions it refers to), so that `helm install` checks `config` exactly as the editor schema
// does. helm_test.mjs fails when the copy is stale; run `node tests/deploy/sync_values_schema.mjs`.
import fs from 'node:fs';
import path from 'node:path';
import { SOURCE_DIR } from './lib.mjs';

export const CONFIG_SCHEMA = path.join(SOURCE_DIR, 'config', 'ciap.schema.json');
export const VALUES_SCHEMA = path.join(SOURCE_DIR, 'helm', 'ciap', 'values.schema.json');

// values.schema.json as it should be, given both files.
export function syncedValuesSchema() {
  const config = JSON.parse(fs.readFileSync(CONFIG_SCHEMA, 'utf8'));
  const values = JSON.parse(fs.readFileSync(VALUES_SCHEMA, 'utf8'));
  const { $schema, definitions: configDefinitions, ...configRoot } = config;  // eslint-disable-line no-unused-vars
  const own = {};
  for (const [name, def] of Object.entries(values.definitions || {})) {
    if (name !== 'ciapConfig' && !(name in configDefinitions)) own[name] = def;
  }
  for (const name of Object.keys(configDefinitions)) {
    if (name in own) throw new Error(`definition ${name} exists in both schemas`);
  }
  values.definitions = { ...own, ciapConfig: configRoot, ...configDefinitions };
  return `${JSON.stringify(values, null, 2)}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  fs.writeFileSync(VALUES_SCHEMA, syncedValuesSchema());
  console.log(`wrote ${path.relative(SOURCE_DIR, VALUES_SCHEMA)}`);
}
