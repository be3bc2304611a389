/**
 * What a host (a name or an IP literal, IPv6 without brackets) means for reaching it: loopback (this machine
 * only) or a wildcard (every interface: a place to listen, never an address to connect to).
 */

/** Hosts that mean "every interface". */
const WILDCARD_HOSTS = new Set(['', '0.0.0.0', '::', '::0', '0:0:0:0:0:0:0:0']);

/** Whether `host` means "every interface" (0.0.0.0, ::). */
export function isWildcardHost(host: string): boolean {
  return WILDCARD_HOSTS.has(host);
}

/** Whether `host` is this machine only: localhost, 127.0.0.0/8, ::1. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
