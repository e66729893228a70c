#!/usr/bin/env node
import { registerClientNodeHooks } from '../adapters/kubernetes/module-hooks.ts';
import { processIo } from './io.ts';
import { runCli } from './program.ts';

// Before any command loads: the Kubernetes client loads without its generated API clients.
registerClientNodeHooks();
const code = await runCli(process.argv.slice(2), processIo());
process.exitCode = code;
