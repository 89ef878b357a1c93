using Npgsql;

namespace M2M.Storage.Postgres;

/// <summary>
/// Runs a unit of work again when PostgreSQL aborts it for a reason that a new attempt resolves: a
/// serialization failure (<c>40001</c>, serializable transactions that conflicted) or a deadlock
/// (<c>40P01</c>). Every unit passed here is one transaction, so an aborted attempt left nothing behind.
/// </summary>
internal static class PgRetry
{
    private const int MaxAttempts = 20;

    public static bool IsRetryable(PostgresException e) =>
        e.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected;

    public static async ValueTask<T> RunAsync<T>(Func<CancellationToken, ValueTask<T>> work, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await work(cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException e) when (IsRetryable(e) && attempt < MaxAttempts)
            {
                // A short, growing, jittered pause so that the conflicting transactions do not meet again.
                await Task.Delay(Random.Shared.Next(1, 5 * attempt), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public static async ValueTask RunAsync(Func<CancellationToken, ValueTask> work, CancellationToken cancellationToken) =>
        await RunAsync<bool>(async ct =>
        {
            await work(ct).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
}
