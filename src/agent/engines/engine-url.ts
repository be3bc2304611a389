/**
 * Engine URLs as the agent polls them and as it reports them. An engine bound to a wildcard address is polled on
 * loopback; a loopback or wildcard host is reported with the advertised host, so the queen (and its gateway) can
 * reach the engine from another machine.
 */

import { isLoopbackHost, isWildcardHost } from '../../common/hosts.js';

/** The URL's host without IPv6 brackets. */
function bareHost(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

/** Sets a URL's host, bracketing IPv6 literals. */
function withHost(url: URL, host: string): string {
  const copy = new URL(url.href);
  copy.hostname = host.includes(':') ? `[${host}]` : host;
  return copy.href.replace(/\/+$/, '');
}

/** Where the agent sends its polls: the SPEC's URL, with a wildcard host replaced by loopback. */
export function pollUrl(specUrl: string): string {
  const url = new URL(specUrl);
  const host = bareHost(url);
  if (!isWildcardHost(host)) return specUrl;
  return withHost(url, host === '0.0.0.0' ? '127.0.0.1' : '::1');
}

/**
 * The URL reported to the queen: the SPEC's URL, with a loopback or wildcard host replaced by `advertiseHost`
 * (when there is one). Other hosts are reported as given: the operator named them.
 */
export function advertisedUrl(specUrl: string, advertiseHost: string | undefined): string {
  const url = new URL(specUrl);
  const host = bareHost(url);
  if (advertiseHost === undefined || advertiseHost === '' || !(isLoopbackHost(host) || isWildcardHost(host))) return specUrl;
  return withHost(url, advertiseHost.replace(/^\[|\]$/g, ''));
}

/** Whether the engine runs on this machine as far as its URL tells (loopback or wildcard): its port can be mapped to processes. */
export function isLocalEngine(specUrl: string, localAddresses: ReadonlySet<string>): boolean {
  const host = bareHost(new URL(specUrl));
  return isLoopbackHost(host) || isWildcardHost(host) || localAddresses.has(host);
}
