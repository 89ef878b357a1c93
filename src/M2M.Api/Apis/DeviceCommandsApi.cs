using System.ComponentModel.DataAnnotations;
using M2M.Api.Http;
using M2M.Messaging;
using M2M.Storage.Entities;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace M2M.Api.Apis;

/// <summary><c>/api/devices/{id}/commands</c>: queue commands for a device and follow their delivery.</summary>
public static class DeviceCommandsApi
{
    private const string CursorKind = "cmd";

    /// <summary>Longest command text (all its lines).</summary>
    public const int MaxTextLength = 1024;

    /// <summary>Longest time-to-live of a command.</summary>
    public const int MaxTtlSeconds = 30 * 24 * 3600;

    /// <summary>Largest page of commands.</summary>
    public const int MaxLimit = 1000;

    /// <summary>How many of a device's newest commands a listing can page through.</summary>
    public const int MaxListed = 10_000;

    public static RouteGroupBuilder MapDeviceCommandsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/devices/{id}/commands").WithTags("Commands");
        group.MapPost("", AddAsync).WithName("addDeviceCommand").WithSummary("Queue a command; it is pushed at once to a connected device, else at its next identification.");
        group.MapGet("", ListAsync).WithName("listDeviceCommands").WithSummary("The device's commands, newest first, with their state.");
        group.MapGet("/{commandId}", GetAsync).WithName("getDeviceCommand").WithSummary("One command.");
        group.MapDelete("/{commandId}", CancelAsync).WithName("cancelDeviceCommand").WithSummary("Cancel a command that was not delivered yet.");
        return group;
    }

    internal static async Task<Results<Created<CommandCreated>, NotFound, ValidationProblem>> AddAsync(string id, AddCommandRequest request, [AsParameters] DeviceServices s)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        if (CheckText(request.Text) is { } error)
        {
            return Validation.Problem("text", error);
        }
        if (request.TtlSeconds is < 1 or > MaxTtlSeconds)
        {
            return Validation.Problem("ttlSeconds", $"Must be between 1 and {MaxTtlSeconds}.");
        }
        if (await s.FindAsync(deviceId) is not { } device)
        {
            return TypedResults.NotFound();
        }
        if (device.Protocol == DeviceProtocols.Alip && request.Text.Contains('\n', StringComparison.Ordinal))
        {
            return Validation.Problem("text", "The device speaks ALIP, which sends a command as one line: a command for it cannot contain a line break.");
        }
        var ttl = request.TtlSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : (TimeSpan?)null;
        var commandId = await s.Devices.AddCommandAsync(deviceId, request.Text, ttl, CancellationToken.None);
        await s.PushAsync(deviceId, Calls.SendCommands);
        // The state it was queued in (not read back: where it is now is what GET tells).
        return TypedResults.Created($"/api/devices/{deviceId:D}/commands/{commandId}", new CommandCreated(commandId, CommandState.Pending));
    }

    internal static async Task<Results<Ok<Page<CommandView>>, NotFound, ValidationProblem>> ListAsync(
        string id, [AsParameters] DeviceServices s, [Range(1, MaxLimit)] int? limit = null, string? cursor = null)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        if (!Validation.TryLimit(limit, 100, MaxLimit, out var size, out invalid))
        {
            return invalid;
        }
        string? after = null;
        if (cursor is not null && !Cursor.TryDecode(CursorKind, cursor, out after))
        {
            return Validation.Problem("cursor", "Not a cursor of this list.");
        }
        if (await s.FindAsync(deviceId) is null)
        {
            return TypedResults.NotFound();
        }
        // Command ids sort by creation; the store lists newest first, so a page starts after the last id shown.
        var all = await s.Devices.ListCommandsAsync(deviceId, MaxListed, s.Aborted);
        var items = new List<CommandView>(size);
        string? next = null;
        foreach (var command in all)
        {
            if (after is not null && string.CompareOrdinal(command.Id, after) >= 0)
            {
                continue;
            }
            if (items.Count == size)
            {
                next = items[^1].Id;
                break;
            }
            items.Add(CommandView.From(command));
        }
        return TypedResults.Ok(new Page<CommandView>(items, Cursor.Encode(CursorKind, next)));
    }

    internal static async Task<Results<Ok<CommandView>, NotFound, ValidationProblem>> GetAsync(string id, string commandId, [AsParameters] DeviceServices s)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        if (!IsCommandId(commandId))
        {
            return Validation.Problem("commandId", "Not a command id.");
        }
        if (await s.FindAsync(deviceId) is null || await s.Devices.GetCommandAsync(deviceId, commandId, s.Aborted) is not { } command)
        {
            return TypedResults.NotFound();
        }
        return TypedResults.Ok(CommandView.From(command));
    }

    internal static async Task<Results<NoContent, NotFound, ProblemHttpResult, ValidationProblem>> CancelAsync(string id, string commandId, [AsParameters] DeviceServices s)
    {
        if (!Validation.TryParseId(id, "id", out var deviceId, out var invalid))
        {
            return invalid;
        }
        if (!IsCommandId(commandId))
        {
            return Validation.Problem("commandId", "Not a command id.");
        }
        if (await s.FindAsync(deviceId) is null || await s.Devices.GetCommandAsync(deviceId, commandId, s.Aborted) is not { } command)
        {
            return TypedResults.NotFound();
        }
        if (command.State != CommandState.Pending || !await s.Devices.CancelCommandAsync(deviceId, commandId, CancellationToken.None))
        {
            return TypedResults.Problem(title: $"Only a pending command can be cancelled; this one is {command.State.ToString().ToLowerInvariant()}.", statusCode: StatusCodes.Status409Conflict);
        }
        return TypedResults.NoContent();
    }

    /// <summary>
    /// Command text: 1 to <see cref="MaxTextLength"/> characters; lines separated by <c>\n</c> (an M2MP
    /// device gets them as the items of its <c>_cmd</c> array) and tabs are allowed, no other control
    /// character (<c>\r</c> included).
    /// </summary>
    internal static string? CheckText(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "Required and must not be empty.";
        }
        if (text.Length > MaxTextLength)
        {
            return $"Longer than {MaxTextLength} characters.";
        }
        foreach (var c in text)
        {
            if (char.IsControl(c) && c is not ('\n' or '\t'))
            {
                return "Control characters are not allowed, except line breaks (\\n) between lines and tabs.";
            }
        }
        return null;
    }

    private static bool IsCommandId(string commandId) =>
        commandId.Length is > 0 and <= 128 && commandId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}

/// <summary>A command to queue; it expires unsent after <c>ttlSeconds</c> when given.</summary>
public sealed record AddCommandRequest(string Text, [property: Range(1, DeviceCommandsApi.MaxTtlSeconds)] int? TtlSeconds = null);

/// <summary>A queued command's id and state.</summary>
public sealed record CommandCreated(string Id, CommandState State);

/// <summary>A command and where its delivery stands; <c>failure</c> says why a <c>failed</c> command was never sent.</summary>
public sealed record CommandView(
    string Id,
    string Text,
    CommandState State,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? SentAt,
    DateTimeOffset? AckedAt,
    string? Response,
    DateTimeOffset? FailedAt,
    string? Failure)
{
    public static CommandView From(DeviceCommand c) => new(c.Id, c.Text, c.State, c.CreatedAt, c.ExpiresAt, c.SentAt, c.AckedAt, c.Response, c.FailedAt, c.Failure);
}
