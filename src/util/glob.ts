/**
 * Shell-style globs for paths: `*` and `?` stay within a path segment, `**` crosses them, `[...]`
 * is a class. A glob without `/` matches a file's name anywhere (`*.so` finds every library), as
 * `find -name` does; one starting with `/` matches the whole path, any other the path's end.
 */
export function globMatcher(glob: string): (path: string) => boolean {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        const body = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  // `bin/*` is a path's end, at a segment boundary; `/usr/bin/*` the whole path
  const matcher = new RegExp(glob.startsWith('/') ? `^${re}$` : `(?:^|/)${re}$`);
  if (glob.includes('/')) return (path) => matcher.test(path);
  return (path) => matcher.test(path.slice(path.lastIndexOf('/') + 1));
}

export const isGlob = (text: string) => /[*?[]/.test(text);
