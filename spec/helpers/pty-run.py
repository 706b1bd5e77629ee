# Runs a command in a pseudo-terminal and follows a script, like `expect`: the CLI sees a real terminal (isTTY,
# raw-mode readline, Ctrl-C as the terminal sends it: SIGINT from the line discipline, or the byte 0x03 in raw
# mode). Used by spec/cli/interrupt.spec.ts.
# Usage: python3 pty-run.py '{"cmd": [...], "cwd": "...", "steps": [{"expect": "regex"} | {"send": "text"} | {"sleep": s}], "timeout": s}'
# Prints one JSON object: {"status": exit code (or -signal), "transcript": all output, "marks": [offset after each expect], "error": str|null}.
import json, os, pty, re, select, sys, time

spec = json.loads(sys.argv[1])
deadline = time.time() + spec.get('timeout', 60)
pid, fd = pty.fork()
if pid == 0:
    os.chdir(spec['cwd'])
    env = dict(os.environ, TERM='xterm', COLUMNS='120', LINES='40')
    os.execvpe(spec['cmd'][0], spec['cmd'], env)

out = b''
marks = []
error = None
closed = False

def pump(wait):
    global out, closed
    if closed:
        time.sleep(wait)
        return
    r, _, _ = select.select([fd], [], [], wait)
    if r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b''
        if not data:
            closed = True
        out += data

for step in spec['steps']:
    if 'expect' in step:
        pattern = re.compile(step['expect'].encode())
        start = marks[-1] if marks else 0
        while True:
            m = pattern.search(out, start)
            if m:
                marks.append(m.end())
                break
            if time.time() > deadline or closed:
                error = 'timed out waiting for %r' % step['expect'] if not closed else 'output ended before %r' % step['expect']
                break
            pump(0.05)
        if error:
            break
    elif 'send' in step:
        os.write(fd, step['send'].encode())
    elif 'sleep' in step:
        end = time.time() + step['sleep']
        while time.time() < end:
            pump(0.05)

status = None
while status is None:
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        status = os.WEXITSTATUS(st) if os.WIFEXITED(st) else -os.WTERMSIG(st)
        break
    if time.time() > deadline:
        os.kill(pid, 9)
        error = error or 'timed out waiting for the exit'
    pump(0.05)
while not closed:
    pump(0.05)
print(json.dumps({'status': status, 'transcript': out.decode('utf8', 'replace'), 'marks': marks, 'error': error}))
