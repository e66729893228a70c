// Makes the built CLI executable (as npm does when it links a package's bin) and copies the
// built-in sandbox scenarios next to the compiled sandbox.
import { chmodSync, cpSync } from 'node:fs';

chmodSync(new URL('../dist/cli/main.js', import.meta.url), 0o755);
cpSync(new URL('../src/sandbox/scenarios', import.meta.url), new URL('../dist/sandbox/scenarios', import.meta.url), { recursive: true });
