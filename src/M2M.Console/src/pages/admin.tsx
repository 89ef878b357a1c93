// Administration: domains and users (administrators only; the API refuses anyone else with 403).
import { useState } from 'preact/hooks';
import { api, get, type DomainView, type Page, type UserView } from '../api';
import { ProblemBox, formatTime, useAction, useLoad } from '../ui';

export function AdminPage() {
  const domains = useLoad((signal) => get<Page<DomainView>>('/api/domains?limit=1000', signal), []);
  const users = useLoad((signal) => get<Page<UserView>>('/api/users?limit=1000', signal), []);
  const action = useAction();
  const [domainName, setDomainName] = useState('');
  const [user, setUser] = useState({ name: '', password: '', domain: 'default', role: 'user', displayName: '' });
  const reload = () => {
    domains.reload();
    users.reload();
  };
  const domainNames = domains.data?.items.map((d) => d.name) ?? [];
  return (
    <section>
      <h1>Administration</h1>
      <ProblemBox error={action.error} onClose={() => action.setError(null)} />
      <div class="columns">
        <div class="card">
          <h2>Domains</h2>
          <ProblemBox error={domains.error} />
          <form
            class="inline"
            onSubmit={async (e) => {
              e.preventDefault();
              if (await action.run(() => api('POST', '/api/domains', { body: { name: domainName.trim() } }))) {
                setDomainName('');
                reload();
              }
            }}
          >
            <input placeholder="new domain" value={domainName} onInput={(e) => setDomainName(e.currentTarget.value)} data-testid="domain-name" />
            <button class="primary" disabled={action.busy} data-testid="domain-create">
              Create
            </button>
          </form>
          <table class="grid" data-testid="domains-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Created</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {domains.data?.items.map((d) => (
                <tr key={d.id}>
                  <td>{d.name}</td>
                  <td>{formatTime(d.createdAt)}</td>
                  <td class="actions">
                    <button
                      onClick={() => {
                        const name = prompt(`Rename domain ${d.name} to:`, d.name);
                        if (name && name !== d.name) void action.run(async () => (await api('PATCH', `/api/domains/${d.id}`, { body: { name } }), reload()));
                      }}
                    >
                      Rename
                    </button>
                    <button class="danger" onClick={() => confirm(`Delete domain ${d.name}?`) && action.run(async () => (await api('DELETE', `/api/domains/${d.id}`), reload()))}>
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div class="card">
          <h2>Users</h2>
          <ProblemBox error={users.error} />
          <form
            class="stack"
            onSubmit={async (e) => {
              e.preventDefault();
              const body = { name: user.name.trim(), password: user.password, domain: user.domain, role: user.role, displayName: user.displayName || undefined };
              if (await action.run(() => api('POST', '/api/users', { body }))) {
                setUser({ ...user, name: '', password: '', displayName: '' });
                reload();
              }
            }}
          >
            <div class="inline">
              <input placeholder="user name" value={user.name} onInput={(e) => setUser({ ...user, name: e.currentTarget.value })} data-testid="user-name" />
              <input placeholder="display name" value={user.displayName} onInput={(e) => setUser({ ...user, displayName: e.currentTarget.value })} />
              <input type="password" placeholder="password" autocomplete="new-password" value={user.password} onInput={(e) => setUser({ ...user, password: e.currentTarget.value })} data-testid="user-password" />
            </div>
            <div class="inline">
              <label>
                Domain{' '}
                <select value={user.domain} onChange={(e) => setUser({ ...user, domain: e.currentTarget.value })} data-testid="user-domain">
                  {domainNames.map((n) => (
                    <option key={n}>{n}</option>
                  ))}
                </select>
              </label>
              <label>
                Role{' '}
                <select value={user.role} onChange={(e) => setUser({ ...user, role: e.currentTarget.value })}>
                  <option>user</option>
                  <option>admin</option>
                </select>
              </label>
              <button class="primary" disabled={action.busy} data-testid="user-create">
                Create user
              </button>
            </div>
          </form>
          <table class="grid" data-testid="users-table">
            <thead>
              <tr>
                <th>User</th>
                <th>Domain</th>
                <th>Role</th>
                <th>Created</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {users.data?.items.map((u) => (
                <tr key={u.id}>
                  <td>
                    {u.name}
                    {u.displayName ? <span class="muted"> · {u.displayName}</span> : null}
                  </td>
                  <td>
                    <select value={u.domain} onChange={(e) => void action.run(async () => (await api('PATCH', `/api/users/${u.id}`, { body: { domain: e.currentTarget.value } }), reload()))}>
                      {domainNames.map((n) => (
                        <option key={n}>{n}</option>
                      ))}
                    </select>
                  </td>
                  <td>
                    <select value={u.role} onChange={(e) => void action.run(async () => (await api('PATCH', `/api/users/${u.id}`, { body: { role: e.currentTarget.value } }), reload()))}>
                      <option>user</option>
                      <option>admin</option>
                    </select>
                  </td>
                  <td>{formatTime(u.createdAt)}</td>
                  <td class="actions">
                    <button
                      onClick={() => {
                        const password = prompt(`New password for ${u.name} (8–256 characters):`);
                        if (password) void action.run(() => api('PUT', `/api/users/${u.id}/password`, { body: { password } }));
                      }}
                    >
                      Password
                    </button>
                    <button class="danger" onClick={() => confirm(`Delete user ${u.name}?`) && action.run(async () => (await api('DELETE', `/api/users/${u.id}`), reload()))}>
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
    </section>
  );
}
