using System.Security.Cryptography;
using M2M.Storage.Entities;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M2M.Api.Auth;

/// <summary>The first administrator (configuration section <c>M2M:Admin</c>).</summary>
public sealed class AdminBootstrapOptions
{
    public const string Section = "M2M:Admin";

    /// <summary>Name of the first administrator.</summary>
    public const string UserName = "admin";

    /// <summary>Password of the first administrator; generated (and printed once to the log) when empty.</summary>
    public string? Password { get; set; }
}

/// <summary>
/// On a start with no user at all, creates <c>admin</c> in the <c>default</c> domain with the
/// configured password, or with a generated one that is printed once to the log (the only time a
/// password is ever logged: the operator has no other way to learn it).
/// </summary>
internal sealed partial class AdminBootstrap(IUserStore users, IDomainStore domains, IOptions<AdminBootstrapOptions> options, ILogger<AdminBootstrap> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var domain = await domains.EnsureDefaultAsync(cancellationToken);
        if (await users.AnyUsersAsync(cancellationToken))
        {
            return;
        }
        var configured = options.Value.Password;
        var password = string.IsNullOrEmpty(configured) ? RandomNumberGenerator.GetString("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789", 20) : configured;
        try
        {
            await users.CreateAsync(AdminBootstrapOptions.UserName, password, UserRoles.Admin, "Administrator", domain.Id, cancellationToken);
        }
        catch (DuplicateNameException)
        {
            // Another node created it at the same moment.
            return;
        }
        if (string.IsNullOrEmpty(configured))
        {
            LogGenerated(logger, AdminBootstrapOptions.UserName, password);
        }
        else
        {
            LogCreated(logger, AdminBootstrapOptions.UserName);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Warning, Message = "No user existed: created administrator '{User}' with the generated password {Password} (shown only this once; change it).")]
    private static partial void LogGenerated(ILogger logger, string user, string password);

    [LoggerMessage(Level = LogLevel.Information, Message = "No user existed: created administrator '{User}' with the password from M2M:Admin:Password.")]
    private static partial void LogCreated(ILogger logger, string user);
}
