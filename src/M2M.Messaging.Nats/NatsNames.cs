using Microsoft.Extensions.Options;

namespace M2M.Messaging.Nats;

/// <summary>The names on the server, with <see cref="NatsBusOptions.Prefix"/> applied.</summary>
public sealed class NatsNames
{
    private readonly string? _subjectPrefix;
    private readonly string? _namePrefix;

    public NatsNames(IOptions<NatsBusOptions> options)
    {
        var o = options.Value;
        var prefix = string.IsNullOrWhiteSpace(o.Prefix) ? null : o.Prefix.Trim();
        if (prefix is not null && !IsValidToken(prefix.Replace('.', '_')))
        {
            throw new InvalidOperationException($"{NatsBusOptions.Section}:Prefix '{prefix}' may use letters, digits, '-', '_' and '.' only.");
        }
        _subjectPrefix = prefix is null ? null : prefix + ".";
        _namePrefix = prefix is null ? null : prefix.Replace('.', '_') + "_";
        StorageSubject = Subject(Topics.Storage);
        StorageStream = Name(o.StorageStream);
        ConverterStream = Name(o.ConverterStream);
        ConverterSubjects = Subject("converter.>");
        WriterConsumer = Name(o.WriterConsumer);
        PresenceBucket = Name(o.PresenceBucket);
        PresenceLeaseBucket = Name(o.PresenceLeaseBucket);
    }

    /// <summary>The subject of the <c>storage</c> stream.</summary>
    public string StorageSubject { get; }

    public string StorageStream { get; }

    public string ConverterStream { get; }

    /// <summary>The wildcard the converter stream keeps.</summary>
    public string ConverterSubjects { get; }

    public string WriterConsumer { get; }

    public string PresenceBucket { get; }

    public string PresenceLeaseBucket { get; }

    /// <summary>A bus subject on the server.</summary>
    public string Subject(string subject) => _subjectPrefix is null ? subject : _subjectPrefix + subject;

    /// <summary>A stream, consumer or bucket name on the server.</summary>
    public string Name(string name) => _namePrefix is null ? name : _namePrefix + name;

    private static bool IsValidToken(string s) => s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');
}
