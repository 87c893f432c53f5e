/** RFC 9457 body (libs/platform renders it; auth builds its own to stay independent of platform). */
export function problem(status: number, detail: string): Record<string, unknown> {
  const titles: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found' };
  return { type: 'about:blank', title: titles[status] ?? 'Error', status, detail };
}
