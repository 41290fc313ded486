/** Reads the JSON fixtures under test/fixtures (written by the scripts in test/py with PyTorch). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The parsed `test/fixtures/<name>` (tests run from dist/test, the fixtures stay in the source tree). */
export function readFixture<T>(name: string): T {
  const path = fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}
