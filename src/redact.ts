/**
 * URLs as retryscope writes them, in messages, warnings and logs: scheme,
 * host, port and path only. Userinfo (`user:password@`) and the query
 * (`?api-key=…`, Azure's way of passing a key) can carry credentials, and
 * the fragment has no business in a log. Pure string functions, importable
 * from every layer.
 */

/** `url` without userinfo, query or fragment. Text that does not parse as a URL is stripped the same way. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    // The URL parser adds a '/' path to a bare origin; keep the URL as the user wrote it.
    const path = parsed.pathname === '/' && !/^[^?#]*:\/\/[^/?#]*\//.test(url) ? '' : parsed.pathname;
    return parsed.host ? `${parsed.protocol}//${parsed.host}${path}` : `${parsed.protocol}${parsed.pathname}`;
  } catch {
    return stripByHand(url);
  }
}

function stripByHand(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1').replace(/[?#].*$/s, '');
}

const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;

/** Every `scheme://…` inside free text (an exporter's error message, say) redacted as by `redactUrl`. */
export function redactUrlsIn(text: string): string {
  return text.replace(URL_IN_TEXT, (match) => redactUrl(match));
}
