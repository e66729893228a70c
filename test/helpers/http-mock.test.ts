import axios from 'axios';
import { describe, expect, it } from 'vitest';
import { assertHttpMocksDone, mockHttp, setupHttpMocks } from './http-mock.ts';

setupHttpMocks();

describe('test/helpers/http-mock', () => {
  it('passes when every interceptor was used by a matching request', async () => {
    mockHttp('http://svc.test').get('/ok').reply(200, 'fine');
    expect((await axios.get('http://svc.test/ok')).data).toBe('fine');
    expect(() => assertHttpMocksDone()).not.toThrow();
  });

  it('fails on an interceptor that was never used', () => {
    mockHttp('http://svc.test').get('/never').reply(200);
    expect(() => assertHttpMocksDone()).toThrow(/interceptors never used:\n {2}GET http:\/\/svc\.test:80\/never/);
  });

  it('fails on a request that matched nothing, even when the caller swallowed the error', async () => {
    mockHttp('http://svc.test').get('/a').reply(200);
    await axios.get('http://svc.test/a');
    await axios.post('http://svc.test/b').catch(() => undefined);
    expect(() => assertHttpMocksDone()).toThrow(
      /requests that matched no interceptor:\n {2}POST http:\/\/svc\.test\/b/,
    );
  });

  it('blocks real network to hosts without interceptors', async () => {
    await expect(axios.get('http://unmocked.test/')).rejects.toThrow(/Nock: Disallowed net connect/);
    expect(() => assertHttpMocksDone()).toThrow(/GET http:\/\/unmocked\.test\//);
  });
});
