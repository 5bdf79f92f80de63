// Test support: the real Python server as a child process on a free port, a TCP proxy that can
// cut connections like a network failure, a Python bot, and bounded polling.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const JS_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO = resolve(JS_ROOT, "..", "..");
export const VECTORS = join(REPO, "protocol", "vectors");
export const PYTHON = process.env.GANGGPT_PYTHON ?? join(REPO, ".venv", "bin", "python");
